//! The data and the model of the sums transformer (`tools/flax_reference/train_sums.py`):
//! every `a + b` with `a, b` in 0..=99, written as the tokens of `"ab+cd="`
//! followed by the sum's three digits least-significant first; the held-out
//! pairs and the batch order come from JAX's PRNG, as in the Flax script.

// Each includer uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ndarray::{s, Array2, ArrayD, Axis};
use nnx::nn::{AttentionArgs, Embed, LayerNorm, Linear, MultiHeadAttention};
use nnx::optax;
use nnx::prelude::*;
use nnx::random::{fold_in, key, permutation};
use nnx::tensor::Tensor;

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

/// A pre-LayerNorm transformer block.
#[derive(Module)]
struct Block {
    ln1: LayerNorm,
    attn: MultiHeadAttention,
    ln2: LayerNorm,
    mlp_in: Linear,
    mlp_out: Linear,
}

impl Block {
    fn new(d: usize, heads: usize, rngs: &mut Rngs) -> nnx::Result<Block> {
        Ok(Block {
            ln1: LayerNorm::new(d, rngs)?,
            attn: MultiHeadAttention::new(heads, d, rngs)?,
            ln2: LayerNorm::new(d, rngs)?,
            mlp_in: Linear::new(d, 4 * d, rngs)?,
            mlp_out: Linear::new(4 * d, d, rngs)?,
        })
    }

    fn forward(&mut self, x: &Tensor, mask: Option<&ArrayD<bool>>) -> nnx::Result<Tensor> {
        let h = self.ln1.forward(x)?;
        let args = AttentionArgs {
            mask,
            ..Default::default()
        };
        let x = (x + self.attn.forward_with(&h, args)?)?;
        let h = self.mlp_in.forward(&self.ln2.forward(&x)?)?.gelu(true);
        &x + self.mlp_out.forward(&h)?
    }
}

/// Token and position embeddings, blocks, a final LayerNorm, tied logits.
#[derive(Module)]
pub struct Transformer {
    embed: Embed,
    pos: Embed,
    blocks: Vec<Block>,
    ln: LayerNorm,
}

impl Transformer {
    /// Built in the Flax model's order, so `Rngs::new(seed)` gives its parameters.
    pub fn new(d_model: usize, heads: usize, layers: usize, seed: i64) -> nnx::Result<Transformer> {
        let rngs = &mut Rngs::new(seed);
        Ok(Transformer {
            embed: Embed::new(VOCAB, d_model, rngs)?,
            pos: Embed::new(SEQ - 1, d_model, rngs)?,
            blocks: (0..layers)
                .map(|_| Block::new(d_model, heads, rngs))
                .collect::<nnx::Result<_>>()?,
            ln: LayerNorm::new(d_model, rngs)?,
        })
    }

    /// Logits `(batch, len, VOCAB)` of tokens `(batch, len)` at `positions`
    /// `(1, len)`.
    pub fn forward(
        &mut self,
        tokens: &Array2<i64>,
        positions: &Array2<i64>,
        mask: Option<&ArrayD<bool>>,
    ) -> nnx::Result<Tensor> {
        let mut x = (self.embed.lookup(tokens)? + self.pos.lookup(positions)?)?;
        for block in &mut self.blocks {
            x = block.forward(&x, mask)?;
        }
        self.embed.attend(&self.ln.forward(&x)?)
    }

    /// Teacher-forced loss over the answer digits, and the logits.
    pub fn loss(&mut self, tokens: &Array2<i64>) -> nnx::Result<(Tensor, Tensor)> {
        let inputs = tokens.slice(s![.., ..SEQ - 1]).to_owned();
        let targets = tokens.slice(s![.., 1..]).to_owned().into_dyn();
        let positions = Array2::from_shape_fn((1, SEQ - 1), |(_, j)| j as i64);
        let mask = nnx::nn::make_causal_mask(&inputs, 0)?;
        let logits = self.forward(&inputs, &positions, Some(&mask))?;
        let per_token = optax::softmax_cross_entropy_with_integer_labels(&logits, &targets)?;
        let weights = Tensor::new(answer_mask(tokens.nrows()).mapv(f32::from));
        let loss = (per_token * &weights)?.sum() / weights.array().sum();
        Ok((loss, logits))
    }

    /// Greedy answers `(n, 3)` to prompts `(n, 6)`, one token at a time
    /// through each attention layer's decode cache.
    pub fn generate(&mut self, prompts: &Array2<i64>) -> nnx::Result<Array2<i64>> {
        let n = prompts.nrows();
        let d = self.embed.features;
        self.set_attributes("decode", true)?;
        for block in &mut self.blocks {
            block.attn.init_cache(&[n, SEQ - 1, d])?;
        }
        let mut answers = Array2::zeros((n, SEQ - PROMPT));
        let mut token = prompts.slice(s![.., ..1]).to_owned();
        for t in 0..SEQ - 1 {
            let logits = self.forward(&token, &Array2::from_elem((1, 1), t as i64), None)?;
            let next = argmax_last(&logits.into_array());
            token = if t + 1 < PROMPT {
                prompts.slice(s![.., t + 1..t + 2]).to_owned()
            } else {
                answers.column_mut(t + 1 - PROMPT).assign(&next);
                next.insert_axis(Axis(1))
            };
        }
        self.set_attributes("decode", false)?;
        self.pop(Cache)?;
        Ok(answers)
    }
}

/// `(n, SEQ - 1)`: true where the target is an answer digit.
fn answer_mask(n: usize) -> ArrayD<bool> {
    Array2::from_shape_fn((n, SEQ - 1), |(_, j)| j + 1 >= PROMPT).into_dyn()
}

/// The index of the largest logit of the last position of each row.
fn argmax_last(logits: &ArrayD<f32>) -> ndarray::Array1<i64> {
    let last = logits.shape()[1] - 1;
    logits
        .index_axis(Axis(1), last)
        .outer_iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                )
                .0 as i64
        })
        .collect()
}
