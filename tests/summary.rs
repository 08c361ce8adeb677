//! Issue 12 item 4: printing a model (Flax's `print(model)`) and its table
//! (`nnx.tabulate`), checked against what Flax 0.12 prints for the same model
//! (`tools/flax_reference/gen_print_model.py`).

use nnx::nn::{BatchNorm, Dropout, Linear};
use nnx::prelude::*;

#[derive(Module)]
struct Mlp {
    l1: Linear,
    bn: BatchNorm,
    drop: Dropout,
    l2: Linear,
    again: Shared<Linear>,
    tied: Shared<Linear>,
}

fn mlp() -> Mlp {
    let rngs = &mut Rngs::new(0);
    let tied = Shared::new(Linear::new(1, 1, rngs).unwrap());
    Mlp {
        l1: Linear::new(2, 3, rngs).unwrap(),
        bn: BatchNorm::new(3, rngs).unwrap(),
        drop: Dropout::new(0.5, rngs).unwrap(),
        l2: Linear::new(3, 1, rngs).unwrap(),
        again: tied.clone(),
        tied,
    }
}

/// The lines that carry structure, types, counts, shapes and dtypes (not the
/// random values or the hyperparameters, which differ in spelling), sorted:
/// field order differs (Flax: definition order, nnx: sorted paths).
fn structure_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("( # ") || l.contains("value=Array(shape=") || l.ends_with("(...)"))
        .collect();
    lines.sort_unstable();
    lines
}

#[test]
fn display_shows_what_flax_shows() {
    let flax = include_str!("data/summary/print_model.txt");
    let ours = nnx::display(&mlp());
    assert_eq!(
        structure_lines(&ours),
        structure_lines(flax),
        "nnx printed:\n{ours}"
    );
    // Sanity: the comparison covers every Variable and module of the model.
    assert_eq!(structure_lines(flax).len(), 27);
    assert!(ours.starts_with(
        "Mlp( # Param: 21 (84 B), BatchStat: 6 (24 B), RngState: 2 (12 B), Total: 29 (120 B)\n"
    ));
    // The tied Linear is shown once, then as `Linear(...)`, as Flax does.
    assert!(ours.contains("\n  tied=Linear(...)\n"));
}

#[test]
fn tabulate_counts_like_flax() {
    let text = nnx::tabulate(&mlp());
    // Flax 0.12's nnx.tabulate of the same model ends with these totals.
    let totals = text.lines().rev().nth(2).unwrap();
    assert_eq!(
        totals.split('│').map(str::trim).collect::<Vec<_>>(),
        ["", "", "Total", "6 (24 B)", "21 (84 B)", "2 (12 B)", ""]
    );
    assert_eq!(
        text.lines().last().unwrap().trim(),
        "Total Parameters: 29 (120 B)"
    );
    // One row per submodule, in path order; the tied Linear once.
    let paths: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with('│'))
        .filter_map(|l| l.split('│').nth(2).map(str::trim).filter(|t| !t.is_empty()))
        .collect();
    assert_eq!(
        paths,
        [
            "Mlp",
            "Linear",
            "BatchNorm",
            "Dropout",
            "RngStream",
            "Linear",
            "Linear",
            "Total"
        ]
    );
    assert!(text.contains("│ l1        │ Linear    │                  │ bias: float32[3]     │"));
    assert!(text.contains("│           │           │ var: float32[3]  │ scale: float32[3]    │"));
}

#[test]
fn transparent_variants_print_as_their_layer() {
    let rngs = &mut Rngs::new(0);
    let layer: nnx::nn::Layer = Linear::new(1, 2, rngs).unwrap().into();
    let text = nnx::display(&layer);
    assert!(text.starts_with("Linear( # Param: 4 (16 B)"), "{text}");
    assert!(!text.contains("Layer::"), "{text}");
    let seq = nnx::nn::Sequential::new(vec![layer, nnx::nn::Activation::Relu.into()]);
    let table = nnx::tabulate(&seq);
    assert!(table.contains("layers/0 │ Linear"), "{table}");
    assert!(table.contains("layers/1 │ Activation::Relu"), "{table}");
}
