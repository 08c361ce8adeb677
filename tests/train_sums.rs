//! The sums transformer's data (`examples/support/sums.rs`) against the Flax
//! run it reproduces (`tools/flax_reference/train_sums.py`).

#[path = "../examples/support/sums.rs"]
mod sums;

use serde_json::Value;

fn flax() -> Value {
    let text = std::fs::read_to_string(sums::data_file("flax_training.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn tokens_write_the_sum_least_significant_digit_first() {
    let rows = sums::pair_tokens(&[1234, 9999, 5]);
    assert_eq!(rows.row(0).to_vec(), [1, 2, 10, 3, 4, 11, 6, 4, 0]); // 12+34=046
    assert_eq!(rows.row(1).to_vec(), [9, 9, 10, 9, 9, 11, 8, 9, 1]); // 99+99=198
    assert_eq!(rows.row(2).to_vec(), [0, 0, 10, 0, 5, 11, 5, 0, 0]); // 0+5=5
    let row = rows.row(0).to_vec();
    assert_eq!(sums::show(&row, &row[sums::PROMPT..]), "12+34=46");
}

#[test]
fn held_out_pairs_are_flaxs() {
    // jax.random.permutation of 10000 takes two sorting rounds.
    let f = flax();
    let held = f["config"]["held_out"].as_u64().unwrap() as usize;
    let seed = f["config"]["split_seed"].as_i64().unwrap();
    let (train, held_out) = sums::split(seed, held);
    assert_eq!((train.len(), held_out.len()), (9000, 1000));
    let want: Vec<usize> = f["held_out_head"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(held_out[..want.len()], want[..]);
    let mut all: Vec<usize> = train.iter().chain(&held_out).copied().collect();
    all.sort_unstable();
    assert!(all.iter().enumerate().all(|(i, &p)| i == p));
}

/// The first steps of `train_sums` in a debug build: the transformer's
/// initialization, the causal attention, the tied logits, the masked loss and
/// adamw must all be Flax's for the losses to agree. The whole run is the
/// example's (`cargo run --release --example train_sums`).
#[test]
fn first_steps_follow_flaxs_losses() {
    use nnx::optax;
    use nnx::Param;
    const STEPS: usize = 10;
    let f = flax();
    let c = &f["config"];
    let int = |k: &str| c[k].as_i64().unwrap();
    let total = int("epochs") * int("steps_per_epoch");
    let schedule = optax::warmup_cosine_decay_schedule(
        0.0,
        c["peak_lr"].as_f64().unwrap(),
        int("warmup_steps") as i32,
        total as i32,
        c["end_lr"].as_f64().unwrap(),
        1.0,
    )
    .unwrap();
    let tx = optax::adamw(schedule).weight_decay(c["weight_decay"].as_f64().unwrap());
    let mut model = sums::Transformer::new(
        int("d_model") as usize,
        int("heads") as usize,
        int("layers") as usize,
        int("params_seed"),
    )
    .unwrap();
    let mut opt = nnx::Optimizer::new(&model, tx, Param).unwrap();
    let (train, _) = sums::split(int("split_seed"), int("held_out") as usize);
    let order = sums::epoch_order(&train, int("shuffle_seed"), 0);
    let batch = int("batch") as usize;
    for step in 0..STEPS {
        let tokens = sums::pair_tokens(&order[step * batch..(step + 1) * batch]);
        let (loss, grads) =
            nnx::value_and_grad(&mut model, Param, |m| Ok(m.loss(&tokens)?.0)).unwrap();
        opt.update(&mut model, &grads).unwrap();
        let want = f["steps"][step]["loss"].as_f64().unwrap() as f32;
        let rel = (loss - want).abs() / want;
        assert!(
            rel <= 1e-4,
            "step {step}: loss {loss} vs Flax {want} (rel {rel:e})"
        );
    }
}
