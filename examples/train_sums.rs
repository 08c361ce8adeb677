//! Trains a tiny decoder-only transformer to add two-digit numbers, in Rust,
//! following Flax's run of the same model step by step, then answers
//! held-out sums by greedy generation through the attention decode cache.
//!
//! The data is generated (`support/sums.rs`): `"12+34="` followed by the
//! sum's digits least-significant first. The model (`Embed` for tokens and
//! positions, pre-LayerNorm blocks of causal `MultiHeadAttention` and a GELU
//! MLP, a final `LayerNorm`, logits from the token embedding: tied weights)
//! is `tools/flax_reference/train_sums.py`'s, built from `Rngs::new(0)`;
//! Flax's per-step losses are in `examples/data/sums/flax_training.json`.
//! With the default flags the run exits non-zero unless every step of the
//! first epoch has a loss within 1e-4 relative of Flax's and the held-out
//! exact-match accuracy reaches Flax's.
//!
//! ```text
//! cargo run --release --example train_sums
//! ```

#[path = "support/sums.rs"]
mod sums;
#[path = "support/train.rs"]
mod train;

use std::collections::HashMap;

use clap::Parser;
use ndarray::s;
use nnx::optax;
use nnx::tensor::Tensor;
use serde_json::{json, Value};

use sums::{Transformer, PROMPT};
use train::{Fallible, LossAgreement, Outcome, Plan, RunArgs, StepAux, Trainer};

/// Train a tiny transformer on generated sums ("12+34=46") and compare the
/// run with Flax's.
#[derive(Parser, Debug)]
#[command(name = "train_sums")]
struct Args {
    /// Passes over the 9000 training sums
    #[arg(long, default_value_t = 4)]
    epochs: usize,
    /// Sums per step
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak learning rate of the warmup-cosine schedule (adamw)
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Steps of linear warmup from 0 to --lr
    #[arg(long, default_value_t = 50)]
    warmup_steps: usize,
    /// Learning rate at the last step
    #[arg(long, default_value_t = 1e-5)]
    end_lr: f64,
    /// adamw's weight decay
    #[arg(long, default_value_t = 1e-2)]
    weight_decay: f64,
    /// Width of the model
    #[arg(long, default_value_t = 64)]
    d_model: usize,
    /// Attention heads per block
    #[arg(long, default_value_t = 4)]
    heads: usize,
    /// Transformer blocks
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// Seed of the parameters
    #[arg(long, default_value_t = 0)]
    seed: i64,
    /// Seed of the held-out split
    #[arg(long, default_value_t = 1)]
    split_seed: i64,
    /// Seed of the batch order
    #[arg(long, default_value_t = 2)]
    shuffle_seed: i64,
    /// Sums held out of training (the exact-match test)
    #[arg(long, default_value_t = 1000)]
    held_out: usize,
    #[command(flatten)]
    run: RunArgs,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Fallible<()> {
    let (train_pairs, held_pairs) = sums::split(args.split_seed, args.held_out);
    let steps_per_epoch = train_pairs.len() / args.batch_size.max(1);
    if args.epochs == 0 || steps_per_epoch == 0 {
        return Err("no step to train: raise --epochs or lower --batch-size".into());
    }
    let total = args.epochs * steps_per_epoch;
    let schedule = optax::warmup_cosine_decay_schedule(
        0.0,
        args.lr,
        i32::try_from(args.warmup_steps)?,
        i32::try_from(total)?,
        args.end_lr,
        1.0,
    )?;
    let config = json!({
        "d_model": args.d_model, "heads": args.heads, "layers": args.layers,
        "epochs": args.epochs, "batch": args.batch_size, "steps_per_epoch": steps_per_epoch,
        "peak_lr": args.lr, "warmup_steps": args.warmup_steps, "end_lr": args.end_lr,
        "weight_decay": args.weight_decay, "params_seed": args.seed,
        "split_seed": args.split_seed, "shuffle_seed": args.shuffle_seed, "held_out": args.held_out,
    });
    let flax: Value = serde_json::from_str(&std::fs::read_to_string(sums::data_file(
        "flax_training.json",
    ))?)?;
    let reference = if flax["config"] == config {
        Some(
            flax["steps"]
                .as_array()
                .ok_or("flax_training.json: no steps")?
                .iter()
                .map(|s| {
                    s["loss"]
                        .as_f64()
                        .map(|l| l as f32)
                        .ok_or("a step without a loss")
                })
                .collect::<Result<Vec<f32>, _>>()?,
        )
    } else {
        println!("(settings differ from the Flax reference run: training without comparing)");
        None
    };
    let model = Transformer::new(args.d_model, args.heads, args.layers, args.seed)?;
    let tx = optax::adamw(schedule.clone()).weight_decay(args.weight_decay);
    let plan = Plan {
        name: "sums",
        total_steps: total,
        steps_per_epoch,
        config,
        schedule,
        reference: reference.clone(),
    };
    let mut trainer = Trainer::new(model, tx, plan, args.run.clone(), "target/nnx-runs/sums")?;
    if !args.run.quiet {
        println!(
            "training a {}-block transformer (d_model {}, {} heads) on {} generated sums, {} held out; checkpoints in {}",
            args.layers,
            args.d_model,
            args.heads,
            train_pairs.len(),
            held_pairs.len(),
            trainer.dir().display()
        );
    }

    let mut orders: HashMap<usize, Vec<usize>> = HashMap::new();
    let batch = args.batch_size;
    let loss_fn = |m: &mut Transformer, step: usize| -> nnx::Result<(Tensor, StepAux)> {
        let epoch = step / steps_per_epoch;
        let order = orders
            .entry(epoch)
            .or_insert_with(|| sums::epoch_order(&train_pairs, args.shuffle_seed, epoch));
        let start = (step % steps_per_epoch) * batch;
        let tokens = sums::pair_tokens(&order[start..start + batch]);
        let (loss, logits) = m.loss(&tokens)?;
        // The accuracy of the answer digits: the logits that predict them.
        let aux = StepAux {
            logits: logits
                .into_array()
                .slice(s![.., PROMPT - 1.., ..])
                .to_owned()
                .into_dyn(),
            labels: tokens.slice(s![.., PROMPT..]).to_owned().into_dyn(),
        };
        Ok((loss, aux))
    };
    let held_tokens = sums::pair_tokens(&held_pairs);
    let mut examples = Vec::new();
    let evaluate = |m: &mut Transformer| -> nnx::Result<Vec<(String, f32)>> {
        let (loss, _) = m.loss(&held_tokens)?;
        let answers = m.generate(&held_tokens.slice(s![.., ..PROMPT]).to_owned())?;
        let exact = answers
            .outer_iter()
            .zip(held_tokens.outer_iter())
            .filter(|(a, t)| a.iter().eq(t.slice(s![PROMPT..]).iter()))
            .count();
        examples = (0..8.min(held_pairs.len()))
            .map(|i| {
                let row = held_tokens.row(i).to_vec();
                sums::show(&row, &answers.row(i).to_vec())
            })
            .collect();
        Ok(vec![
            ("held_out_loss".to_string(), loss.item()?),
            (
                "held_out_exact_match".to_string(),
                exact as f32 / held_pairs.len() as f32,
            ),
        ])
    };
    let outcome = trainer.run(loss_fn, evaluate)?;
    println!("{}", trainer.summary());
    if !examples.is_empty() {
        println!("generated:    {}", examples.join(", "));
    }
    if let Outcome::Stopped = outcome {
        println!(
            "stopped after step {}: continue with the same flags and --resume",
            trainer.steps.len()
        );
        return Ok(());
    }
    let Some(flax_losses) = reference else {
        return Ok(());
    };
    let a = LossAgreement::new(&trainer.steps, &flax_losses);
    // f32 rounding differences (summation orders differ from XLA's) grow once
    // the loss falls steeply; the first epoch is the reference curve.
    let first = LossAgreement::new(
        &trainer.steps[..steps_per_epoch.min(trainer.steps.len())],
        &flax_losses,
    );
    let exact = trainer
        .epochs
        .last()
        .and_then(|e| e.eval.iter().find(|(k, _)| k == "held_out_exact_match"))
        .map_or(f32::NAN, |(_, v)| *v);
    let flax_exact = flax["held_out_exact_match"].as_f64().unwrap_or(f64::NAN) as f32;
    println!(
        "vs Flax:      the first epoch's {} steps within {:.2e} relative of Flax's losses; \
         all {} steps within {:.2e} (largest at step {}); \
         held-out exact match {exact:.4}, Flax {flax_exact:.4}",
        first.steps, first.max_rel, a.steps, a.max_rel, a.worst_step
    );
    let mut failures = Vec::new();
    if let Some(step) = first.first_beyond_1e4 {
        failures.push(format!(
            "step {step}'s loss differs from Flax's by more than 1e-4"
        ));
    }
    // NaN (no evaluation) fails too.
    if exact.partial_cmp(&flax_exact).is_none_or(|o| o.is_lt()) {
        failures.push(format!(
            "held-out exact match {exact} below Flax's {flax_exact}"
        ));
    }
    if failures.is_empty() {
        println!("OK: the Rust run reproduces Flax's training run");
        Ok(())
    } else {
        Err(failures.join("; ").into())
    }
}
