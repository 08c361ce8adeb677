//! A model trained in Flax, run in Rust with the same numbers.
//!
//! `tools/flax_reference/train_digits.py` trains a small CNN on scikit-learn's
//! digits (8x8 images, 10 classes) with Flax NNX and optax, and exports its
//! State with `nnx.state(model)` to `examples/data/digits/model.safetensors`,
//! with the test split and Flax's eval-mode logits beside it. This example
//! defines the same model with `#[derive(Module)]` from `nnx::nn` layers,
//! loads the checkpoint strictly, switches to eval mode and classifies the
//! test split; it exits non-zero unless its accuracy is Flax's and every logit
//! is within 1e-5 (absolute + relative) of Flax's.
//!
//! ```text
//! cargo run --example flax_digits
//! ```

#[path = "support/digits.rs"]
mod digits;

use digits::{
    agreement, argmax_rows, data_file, flax_correct, flax_logits, flax_rngs, test_set, DigitsCnn,
};
use nnx::prelude::*;

const ATOL: f32 = 1e-5;
const RTOL: f32 = 1e-5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut model = DigitsCnn::new(&mut flax_rngs())?;
    let report = nnx::checkpoint::load_into(&mut model, data_file("model.safetensors"))?;
    println!(
        "loaded {} Variables: {}",
        report.loaded.len(),
        report.loaded.join(", ")
    );
    model.eval()?;

    let (images, labels) = test_set()?;
    let logits = model.logits(&images)?;
    let predictions = argmax_rows(&logits);
    let correct = predictions
        .iter()
        .zip(labels.iter())
        .filter(|(p, l)| **p as i64 == i64::from(**l))
        .count();
    let n = labels.len();
    let flax = flax_logits()?;
    let flax_correct = flax_correct()?;
    let agree = agreement(&logits, &flax, ATOL, RTOL);

    println!("test images:          {n}");
    println!(
        "Rust accuracy:        {:.4} ({correct}/{n})",
        correct as f64 / n as f64
    );
    println!(
        "Flax accuracy:        {:.4} ({flax_correct}/{n})",
        flax_correct as f64 / n as f64
    );
    println!(
        "max |logit diff|:     {:.3e} (max relative {:.3e})",
        agree.max_abs, agree.max_rel
    );
    println!(
        "same argmax as Flax:  {}/{n} ({:.2}%)",
        agree.same_argmax,
        100.0 * agree.same_argmax as f64 / n as f64
    );

    let mut failures = Vec::new();
    if correct != flax_correct {
        failures.push(format!(
            "accuracy {correct}/{n} differs from Flax's {flax_correct}/{n}"
        ));
    }
    if !agree.within {
        failures.push(format!(
            "logits differ from Flax's beyond {ATOL:e} + {RTOL:e} * |flax|"
        ));
    }
    if agree.same_argmax != n {
        failures.push(format!(
            "{} predictions differ from Flax's",
            n - agree.same_argmax
        ));
    }
    if failures.is_empty() {
        println!("OK: the Rust model reproduces Flax's results");
        Ok(())
    } else {
        for f in &failures {
            eprintln!("MISMATCH: {f}");
        }
        std::process::exit(1);
    }
}
