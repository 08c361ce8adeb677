//! The data of the sums transformer (`tools/flax_reference/train_sums.py`):
//! every `a + b` with `a, b` in 0..=99, written as the tokens of `"ab+cd="`
//! followed by the sum's three digits least-significant first; the held-out
//! pairs and the batch order come from JAX's PRNG, as in the Flax script.

// Each includer uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ndarray::Array2;
use nnx::random::{fold_in, key, permutation};

/// Tokens: the digits `0`-`9`, then `+` and `=`.
pub const VOCAB: usize = 12;
pub const PLUS: i64 = 10;
pub const EQUALS: i64 = 11;
/// `"ab+cd="` and three answer digits.
pub const SEQ: usize = 9;
/// The prompt `"ab+cd="`.
pub const PROMPT: usize = 6;
/// Every pair `100 * a + b`.
pub const PAIRS: usize = 100 * 100;

/// `examples/data/sums/<name>`.
pub fn data_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data/sums")
        .join(name)
}

/// The token rows `(n, 9)` of pair indices `100 * a + b`.
pub fn pair_tokens(pairs: &[usize]) -> Array2<i64> {
    let mut out = Array2::zeros((pairs.len(), SEQ));
    for (mut row, &p) in out.outer_iter_mut().zip(pairs) {
        let (a, b) = ((p / 100) as i64, (p % 100) as i64);
        let s = a + b;
        let tokens = [
            a / 10,
            a % 10,
            PLUS,
            b / 10,
            b % 10,
            EQUALS,
            s % 10,
            s / 10 % 10,
            s / 100,
        ];
        row.iter_mut().zip(tokens).for_each(|(t, v)| *t = v);
    }
    out
}

/// `(training pairs, held-out pairs)`: the first `held_out` of
/// `jax.random.permutation(key(seed), 10000)` are held out.
pub fn split(seed: i64, held_out: usize) -> (Vec<usize>, Vec<usize>) {
    let mut order = permutation(key(seed), PAIRS);
    let train = order.split_off(held_out.min(PAIRS));
    (train, order)
}

/// The training pairs in epoch `epoch`'s order:
/// `jax.random.permutation(fold_in(key(seed), epoch), n)` of them.
pub fn epoch_order(train: &[usize], seed: i64, epoch: usize) -> Vec<usize> {
    permutation(fold_in(key(seed), epoch as u32), train.len())
        .into_iter()
        .map(|i| train[i])
        .collect()
}

/// `"a+b=s"` for a token row's prompt and three answer digits
/// (least-significant first).
pub fn show(row: &[i64], answer: &[i64]) -> String {
    let digit = |i: usize| row.get(i).copied().unwrap_or(0);
    let a = digit(0) * 10 + digit(1);
    let b = digit(3) * 10 + digit(4);
    let s: i64 = answer.iter().rev().fold(0, |acc, d| acc * 10 + d);
    format!("{a}+{b}={s}")
}
