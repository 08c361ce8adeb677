//! The digits training run (`examples/train_digits.rs`) against Flax's
//! (`tools/flax_reference/train_digits.py`, `examples/data/digits/flax_training.json`).

use serde_json::Value;

fn flax() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/digits/flax_training.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn batch_order_is_flaxs() {
    let f = flax();
    let seed = f["config"]["shuffle_seed"].as_i64().unwrap();
    let n = f["n_train"].as_u64().unwrap() as usize;
    let want: Vec<usize> = f["epoch0_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let ours = nnx::random::permutation(nnx::random::fold_in(nnx::random::key(seed), 0), n);
    assert_eq!(ours, want);
}
