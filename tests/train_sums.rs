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
