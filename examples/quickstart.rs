//! Quickstart: a small sequence classifier with Conv, BatchNorm, Dropout,
//! attention and Linear; its state printed like Flax; a forward pass in train and
//! eval mode; split, merge and update.

use ndarray::ArrayD;
use nnx::nn::{relu, BatchNorm, Conv, Dropout, Linear, MultiHeadAttention};
use nnx::prelude::*;
use nnx::tensor::Tensor;
use nnx::{random, Error};

#[derive(Module)]
struct Classifier {
    conv: Conv,
    norm: BatchNorm,
    dropout: Dropout,
    attention: MultiHeadAttention,
    head: Linear,
}

impl Classifier {
    fn new(channels: usize, classes: usize, rngs: &mut Rngs) -> nnx::Result<Self> {
        Ok(Classifier {
            conv: Conv::new(channels, 8, &[3], rngs)?,
            norm: BatchNorm::new(8, rngs)?,
            dropout: Dropout::new(0.1, rngs)?,
            attention: MultiHeadAttention::config(2, 8).build(rngs)?,
            head: Linear::new(8, classes, rngs)?,
        })
    }

    /// `x`: (batch, length, channels) -> logits (batch, classes).
    fn forward(&mut self, x: &ArrayD<f32>) -> nnx::Result<ArrayD<f32>> {
        let h = self.conv.forward(&Tensor::from(x.clone()))?;
        let h = relu(&self.norm.forward(&h)?);
        let h = self.dropout.forward(&h)?;
        let h = self.attention.forward(&h)?;
        if h.shape().get(1) == Some(&0) {
            return Err(Error::invalid_argument(
                "forward",
                "a non-empty sequence",
                "length 0",
            ));
        }
        let pooled = h.mean_axes(&[1], false)?;
        Ok(self.head.forward(&pooled)?.into_array())
    }
}

fn main() -> nnx::Result<()> {
    let mut rngs = Rngs::new(0).with("dropout", 1);
    let mut model = Classifier::new(4, 3, &mut rngs)?;

    // The state prints as Flax prints it; here the BatchNorm statistics, by type.
    println!("{}", model.state_of(BatchStat).map(shape));
    let params = model.state_of(Param);
    let count: usize = params
        .flat_state()
        .iter()
        .filter_map(|(_, v)| v.value.size_bytes())
        .map(|(n, _)| n)
        .sum();
    println!("{} Param arrays, {count} parameters", params.len());

    // Inputs drawn from JAX's PRNG: the same numbers as jax.random.normal(key(42), ...).
    let x = random::normal::<f32>(random::key(42), &[2, 5, 4])?;

    // Training mode: dropout is active and BatchNorm updates its running statistics.
    let before = model.state();
    model.train()?;
    let y = model.forward(&x)?;
    println!("train logits {:?}: {:.4}", y.shape(), y);
    println!("running mean after one step: {:.4}", *model.norm.mean);

    // Evaluation mode is deterministic.
    model.eval()?;
    let a = model.forward(&x)?;
    let b = model.forward(&x)?;
    println!("eval logits: {a:.4}");
    println!("eval is deterministic: {}", a == b);

    // split / merge: a typed GraphDef plus one State per filter.
    let (graphdef, params, rest) = model.split((Param, ..))?;
    println!(
        "split: {} Params, {} other Variables",
        params.len(),
        rest.len()
    );
    let mut model: Classifier = graphdef.merge((params, rest))?;
    println!(
        "merged back: eval logits unchanged: {}",
        model.forward(&x)? == a
    );

    // update: restore the statistics from before the training step.
    model.update(before.filter(BatchStat))?;
    println!("after update, running mean: {:.4}", *model.norm.mean);
    Ok(())
}
