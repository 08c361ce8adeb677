//! The training harness of the examples (`examples/support/train.rs`): a run
//! stopped mid-epoch and resumed from its checkpoint is bit for bit the run
//! that never stopped (losses, metrics, parameters, optimizer state); a
//! resume with other settings is refused; the record and the picture are
//! written.

#[path = "../examples/support/train.rs"]
mod train;

use ndarray::{ArrayD, Axis};
use nnx::optax;
use nnx::prelude::*;
use nnx::random::{fold_in, key, normal};
use nnx::tensor::Tensor;
use serde_json::json;
use train::{LossAgreement, Outcome, Plan, RunArgs, StepAux, Trainer};

/// Softmax regression: enough to exercise every part of a step.
#[derive(Module)]
struct Classifier {
    w: Param<Tensor>,
    b: Param<Tensor>,
}

const STEPS: usize = 12;
const PER_EPOCH: usize = 5;

fn classifier() -> Classifier {
    let w = normal::<f32>(key(0), &[4, 3]).unwrap() * 0.1;
    Classifier {
        w: Param::new(Tensor::new(w)),
        b: Param::new(Tensor::zeros(&[3])),
    }
}

/// The batch of `step`: a function of the step alone, as the harness needs.
fn batch(step: usize) -> (Tensor, ArrayD<i64>) {
    let x = normal::<f32>(fold_in(key(1), step as u32), &[8, 4]).unwrap();
    // The label is the largest of the first three features.
    let labels = x
        .slice(ndarray::s![.., 0..3])
        .map_axis(Axis(1), |r| {
            (0..3).fold(0, |best, i| if r[i] > r[best] { i } else { best }) as i64
        })
        .into_dyn();
    (Tensor::new(x), labels)
}

fn loss_fn(m: &mut Classifier, step: usize) -> nnx::Result<(Tensor, StepAux)> {
    let (x, labels) = batch(step);
    let logits = (x.matmul(&m.w)? + &*m.b)?;
    let loss = optax::softmax_cross_entropy_with_integer_labels(&logits, &labels)?.mean();
    let aux = StepAux {
        logits: logits.to_array(),
        labels,
    };
    Ok((loss, aux))
}

fn evaluate(m: &mut Classifier) -> nnx::Result<Vec<(String, f32)>> {
    let (loss, _) = loss_fn(m, 1000)?;
    Ok(vec![("held_out_loss".to_string(), loss.item()?)])
}

fn plan(lr: f64) -> Plan {
    Plan {
        name: "classifier",
        total_steps: STEPS,
        steps_per_epoch: PER_EPOCH,
        config: json!({ "lr": lr }),
        schedule: optax::warmup_cosine_decay_schedule(0.0, lr, 3, STEPS as i32, 0.0, 1.0).unwrap(),
        reference: None,
    }
}

fn trainer(
    dir: &std::path::Path,
    lr: f64,
    resume: bool,
    stop_after: Option<usize>,
) -> train::Fallible<Trainer<Classifier>> {
    let args = RunArgs {
        checkpoint_dir: Some(dir.to_path_buf()),
        every: 0,
        resume,
        stop_after,
        quiet: true,
    };
    let p = plan(lr);
    let tx = optax::adamw(p.schedule.clone()).weight_decay(1e-2);
    Trainer::new(classifier(), tx, p, args, "unused")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nnx-train-harness-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_resumed_run_is_the_run_that_never_stopped() {
    let (a, b) = (scratch("straight"), scratch("resumed"));
    let mut straight = trainer(&a, 0.1, false, None).unwrap();
    assert!(matches!(
        straight.run(loss_fn, evaluate).unwrap(),
        Outcome::Finished
    ));

    // Stopped in the middle of the second epoch: the metrics' running sums
    // and the optimizer's moments must come back from the checkpoint.
    let mut first = trainer(&b, 0.1, false, Some(7)).unwrap();
    assert!(matches!(
        first.run(loss_fn, evaluate).unwrap(),
        Outcome::Stopped
    ));
    assert_eq!((first.steps.len(), first.epochs.len()), (7, 1));
    let mut resumed = trainer(&b, 0.1, true, None).unwrap();
    assert_eq!(resumed.optimizer.step(), 7);
    assert!(matches!(
        resumed.run(loss_fn, evaluate).unwrap(),
        Outcome::Finished
    ));

    assert_eq!(resumed.steps, straight.steps);
    assert_eq!(resumed.epochs, straight.epochs);
    assert_eq!(straight.epochs.len(), 3); // 5 + 5 + 2 steps
    let bits = |t: &Tensor| t.array().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&resumed.model.w), bits(&straight.model.w));
    assert_eq!(bits(&resumed.model.b), bits(&straight.model.b));
    assert_eq!(
        resumed.optimizer.state().to_string(),
        straight.optimizer.state().to_string()
    );
    // It learned something: the loss fell.
    let first_loss = straight.steps[0].loss;
    let last_loss = straight.steps[STEPS - 1].loss;
    assert!(last_loss < first_loss, "{first_loss} -> {last_loss}");

    for f in [
        "model.safetensors",
        "optimizer.safetensors",
        "metrics.safetensors",
        "run.json",
    ] {
        assert!(b.join(f).is_file(), "{f} missing");
    }
    let svg = std::fs::read_to_string(resumed.plot_path()).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
    let summary = resumed.summary();
    assert!(summary.contains("trained 12 steps (3 epochs)"), "{summary}");
    assert!(summary.contains("resumed at step 7"), "{summary}");

    // Compared with the straight run as a reference: no difference at all.
    let losses: Vec<f32> = straight.steps.iter().map(|s| s.loss).collect();
    let same = LossAgreement::new(&resumed.steps, &losses);
    assert_eq!(
        (same.steps, same.max_rel, same.first_beyond_1e4),
        (STEPS, 0.0, None)
    );
    let mut off = losses.clone();
    off[4] *= 1.0 + 2e-4;
    off[9] = f32::NAN;
    let worse = LossAgreement::new(&resumed.steps, &off);
    assert_eq!((worse.worst_step, worse.first_beyond_1e4), (9, Some(4)));
    assert_eq!(worse.max_rel, f32::INFINITY);

    // Another learning rate is another run: refused, nothing loaded.
    let err = trainer(&b, 0.2, true, None).err().unwrap().to_string();
    assert!(err.contains("the checkpoint is of another run"), "{err}");
    for dir in [a, b] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn resume_without_a_checkpoint_says_where_it_looked() {
    let dir = scratch("empty");
    let err = trainer(&dir, 0.1, true, None).err().unwrap().to_string();
    assert!(err.starts_with("--resume: cannot read"), "{err}");
    assert!(err.contains("run.json"), "{err}");
}
