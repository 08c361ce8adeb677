//! `Embed`: a lookup table of embeddings (Flax's `nnx.Embed`).

use ndarray::{Array2, ArrayBase, ArrayD, Axis, Data, Dimension, Ix2, IxDyn};
use nnx_core::init::{variance_scaling, Distribution, FanMode, ParamInit};
use nnx_core::rngs::Rngs;
use nnx_core::{Error, Param, Result};

use crate::functional::dot_last_axis;
use crate::param::param;
use crate::support::{check_config, check_shape};
use crate::Forward;
use nnx_tensor::Tensor;

/// Maps integer indices of any shape to rows of `embedding`
/// (`(num_embeddings, features)`), giving `(*indices.shape, features)`; `attend`
/// scores queries against every embedding (Flax's `nnx.Embed`).
///
/// ```
/// use ndarray::array;
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::Embed;
/// let embed = Embed::new(5, 3, &mut Rngs::new(0))?;
/// let y = embed.forward(&array![[0i64, 4], [2, 2]])?;
/// assert_eq!(y.shape(), &[2, 2, 3]);
/// assert!(embed.forward(&array![5i64]).is_err());
/// assert_eq!(embed.attend(&array![[1.0f32, 0.0, 0.0]])?.shape(), &[1, 5]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct Embed {
    /// `(num_embeddings, features)`.
    pub embedding: Param<Array2<f32>>,
    /// Number of rows.
    pub num_embeddings: usize,
    /// Size of each embedding.
    pub features: usize,
}

/// Options of [`Embed`], with Flax's defaults; from [`Embed::config`].
///
/// ```
/// use nnx_core::{init, rngs::Rngs};
/// let embed = nnx_layers::Embed::config(4, 2).embedding_init(init::ones()).build(&mut Rngs::new(0))?;
/// assert_eq!(embed.embedding.sum(), 8.0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EmbedConfig {
    num_embeddings: usize,
    features: usize,
    embedding_init: ParamInit<f32>,
}

impl EmbedConfig {
    /// The initializer (default `variance_scaling(1.0, fan_in, normal, out_axis=0)`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let e = nnx_layers::Embed::config(4, 2).embedding_init(init::ones()).build(&mut Rngs::new(0))?;
    /// assert_eq!(e.embedding.sum(), 8.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn embedding_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.embedding_init = init.into();
        self
    }

    /// Creates the layer (one key from the `params` stream).
    ///
    /// # Errors
    /// When a size is 0 or the table would not fit in memory.
    ///
    /// ```
    /// let e = nnx_layers::Embed::config(4, 2).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(e.embedding.shape(), &[4, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<Embed> {
        // Flax fails here too (its default initializer divides by the fan).
        check_config(
            self.num_embeddings > 0 && self.features > 0,
            "Embed num_embeddings / features",
            "positive sizes",
            format!("{} / {}", self.num_embeddings, self.features),
        )?;
        let embedding = param::<Ix2>(
            &self.embedding_init,
            rngs.next_key("params")?,
            &[self.num_embeddings, self.features],
        )?;
        Ok(Embed {
            embedding,
            num_embeddings: self.num_embeddings,
            features: self.features,
        })
    }
}

impl Embed {
    /// A table with Flax's default initializer.
    ///
    /// ```
    /// let e = nnx_layers::Embed::new(4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!((e.num_embeddings, e.features), (4, 2));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(num_embeddings: usize, features: usize, rngs: &mut Rngs) -> Result<Embed> {
        Embed::config(num_embeddings, features).build(rngs)
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// let e = nnx_layers::Embed::config(4, 2).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(e.num_embeddings, 4);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(num_embeddings: usize, features: usize) -> EmbedConfig {
        EmbedConfig {
            num_embeddings,
            features,
            embedding_init: variance_scaling(
                1.0,
                FanMode::FanIn,
                Distribution::Normal,
                &[-2],
                &[0],
                &[],
            )
            .into(),
        }
    }

    /// Looks up `indices` (any integer type, any shape).
    ///
    /// # Errors
    /// An index outside `0..num_embeddings` (JAX would silently fill with NaN).
    ///
    /// ```
    /// let e = nnx_layers::Embed::new(4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let y = e.forward(&ndarray::array![1usize, 3])?;
    /// assert_eq!(y.shape(), &[2, 2]);
    /// assert_eq!(y.index_axis(ndarray::Axis(0), 0), e.embedding.row(1).into_dyn());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<A, S, D>(&self, indices: &ArrayBase<S, D>) -> Result<ArrayD<f32>>
    where
        A: Copy + TryInto<usize> + std::fmt::Debug,
        S: Data<Elem = A>,
        D: Dimension,
    {
        let rows: Vec<usize> = indices
            .iter()
            .map(|&i| {
                i.try_into()
                    .ok()
                    .filter(|&r| r < self.num_embeddings)
                    .ok_or_else(|| self.bad_index(format!("{i:?}")))
            })
            .collect::<Result<_>>()?;
        self.gather(&rows, indices.shape())
    }

    /// The table is public and can be reassigned: check it still is
    /// `(num_embeddings, features)` before indexing it.
    fn check_table(&self) -> Result<()> {
        check_shape(
            "embedding",
            self.embedding.shape(),
            &[self.num_embeddings, self.features],
        )
    }

    fn bad_index(&self, found: String) -> Error {
        Error::invalid_argument(
            "Embed index",
            format!("an integer in [0, {})", self.num_embeddings),
            found,
        )
    }

    /// Copies the rows `rows` into `(*shape, features)`.
    fn gather(&self, rows: &[usize], shape: &[usize]) -> Result<ArrayD<f32>> {
        self.check_table()?;
        let table = self.embedding.view();
        let mut out = Array2::<f32>::zeros((rows.len(), table.ncols()));
        for (mut dst, &r) in out.axis_iter_mut(Axis(0)).zip(rows) {
            dst.assign(&table.row(r));
        }
        let mut full = shape.to_vec();
        full.push(table.ncols());
        out.into_shape_with_order(IxDyn(&full)).map_err(|_| {
            Error::invalid_argument("Embed output", "a consistent shape", format!("{full:?}"))
        })
    }

    /// `query @ embedding.T`: `(..., features)` to `(..., num_embeddings)`
    /// (weight sharing between embeddings and output logits).
    ///
    /// # Errors
    /// When the last axis of `query` is not `features`.
    ///
    /// ```
    /// let e = nnx_layers::Embed::new(4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let logits = e.attend(&ndarray::Array2::<f32>::ones((3, 2)))?;
    /// assert_eq!(logits.shape(), &[3, 4]); // one logit per embedding
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn attend<S: Data<Elem = f32>, D: Dimension>(
        &self,
        query: &ArrayBase<S, D>,
    ) -> Result<ArrayD<f32>> {
        self.check_table()?;
        dot_last_axis(query, &self.embedding.t())
    }
}

/// Indices given as `f32` must be whole numbers.
impl Forward for Embed {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        Forward::apply(self, x)
    }

    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let rows: Vec<usize> = x
            .array()
            .iter()
            .map(|&v| {
                if v.fract() == 0.0 && v >= 0.0 && (v as usize) < self.num_embeddings {
                    Ok(v as usize)
                } else {
                    Err(self.bad_index(v.to_string()))
                }
            })
            .collect::<Result<_>>()?;
        Ok(Tensor::new(self.gather(&rows, x.shape())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr0, array};

    #[test]
    fn lookups_and_errors() -> Result<()> {
        let mut e = Embed::new(3, 2, &mut Rngs::new(0))?;
        let y = e.forward(&arr0(2u32))?;
        assert_eq!(y, e.embedding.row(2).to_owned().into_dyn());
        assert!(e.forward(&array![-1i32]).is_err());
        assert!(Forward::apply(&e, &Tensor::new(array![0.5f32].into_dyn())).is_err());
        assert_eq!(
            Forward::forward(&mut e, &Tensor::new(array![[1.0f32]].into_dyn()))?.shape(),
            &[1, 1, 2]
        );
        assert!(e.attend(&array![1.0f32, 2.0, 3.0]).is_err());
        Ok(())
    }
}
