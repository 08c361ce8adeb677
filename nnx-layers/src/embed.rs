//! `Embed`: a lookup table of embeddings (Flax's `nnx.Embed`).

use ndarray::{ArrayBase, ArrayD, Data, Dimension, IxDyn};
use nnx_core::init::{variance_scaling, Distribution, FanMode, ParamInit};
use nnx_core::rngs::Rngs;
use nnx_core::{Error, Param, Result};
use nnx_tensor::{einsum, Element, Tensor};

use crate::forward::Recorded;
use crate::linear::check_last_axis;
use crate::param::tensor_param;
use crate::support::{check_config, check_shape};
use nnx_core::record::Describe;

/// Maps integer indices of any shape to rows of `embedding`
/// (`(num_embeddings, features)`), giving `(*indices.shape, features)`; `attend`
/// scores queries against every embedding (Flax's `nnx.Embed`).
///
/// ```
/// use ndarray::array;
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::Embed;
/// use nnx_tensor::Tensor;
/// let embed = Embed::new(5, 3, &mut Rngs::new(0))?;
/// let y = embed.lookup(&array![[0i64, 4], [2, 2]])?;
/// assert_eq!(y.shape(), &[2, 2, 3]);
/// assert!(embed.lookup(&array![5i64]).is_err());
/// assert_eq!(embed.attend(&Tensor::from(array![[1.0f32, 0.0, 0.0]]))?.shape(), &[1, 5]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct Embed<E: Element = f32> {
    /// `(num_embeddings, features)`.
    pub embedding: Param<Tensor<E>>,
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
/// assert_eq!(embed.embedding.sum().item()?, 8.0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EmbedConfig<E: Element = f32> {
    num_embeddings: usize,
    features: usize,
    embedding_init: ParamInit<E>,
}

impl<E: Element> EmbedConfig<E> {
    /// The options of a layer of element type `E` (`f64`: Flax's
    /// `param_dtype=dtype=jnp.float64`), starting from Flax's defaults;
    /// `Embed::config` is this for `f32`.
    ///
    /// ```
    /// let cfg = nnx_layers::EmbedConfig::<f64>::new(10, 4);
    /// assert!(format!("{cfg:?}").starts_with("EmbedConfig"));
    /// ```
    pub fn new(num_embeddings: usize, features: usize) -> EmbedConfig<E> {
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

    /// The initializer (default `variance_scaling(1.0, fan_in, normal, out_axis=0)`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let e = nnx_layers::Embed::config(4, 2).embedding_init(init::ones()).build(&mut Rngs::new(0))?;
    /// assert_eq!(e.embedding.sum().item()?, 8.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn embedding_init(mut self, init: impl Into<ParamInit<E>>) -> Self {
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
    pub fn build(self, rngs: &mut Rngs) -> Result<Embed<E>> {
        // Flax fails here too (its default initializer divides by the fan).
        check_config(
            self.num_embeddings > 0 && self.features > 0,
            "Embed num_embeddings / features",
            "positive sizes",
            format!("{} / {}", self.num_embeddings, self.features),
        )?;
        let embedding = tensor_param(
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
        EmbedConfig::new(num_embeddings, features)
    }
}

impl<E: Element> Embed<E> {
    /// Looks up `indices` (any integer type, any shape): `(*indices.shape,
    /// features)`, differentiable in the table (rows used twice get both
    /// cotangents).
    ///
    /// # Errors
    /// An index outside `0..num_embeddings` (JAX would silently fill with NaN).
    ///
    /// ```
    /// let e = nnx_layers::Embed::new(4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let y = e.lookup(&ndarray::array![1usize, 3])?;
    /// assert_eq!(y.shape(), &[2, 2]);
    /// assert_eq!(y.slice(0, 0..1)?, e.embedding.slice(0, 1..2)?);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn lookup<A, S, D>(&self, indices: &ArrayBase<S, D>) -> Result<Tensor<E>>
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
        self.gather(rows, indices.shape())
            .recorded(self, &Indices(std::any::type_name::<A>(), indices.shape()))
    }

    /// Looks up indices given as whole `f32` numbers (Flax's `__call__`, and
    /// the [`Forward`](crate::Forward) entry); Embed has no state to update,
    /// so this is [`apply`](Self::apply).
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let mut e = nnx_layers::Embed::new(4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(e.forward(&Tensor::from(ndarray::array![[3.0f32, 0.0]]))?.shape(), &[1, 2, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`apply`](Self::apply).
    pub fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.apply(x)
    }

    /// [`forward`](Self::forward) from a shared reference.
    ///
    /// # Errors
    /// An index that is not a whole number in `0..num_embeddings`.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let e = nnx_layers::Embed::new(4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(e.apply(&Tensor::from(ndarray::array![1.0f32]))?.shape(), &[1, 2]);
    /// assert!(e.apply(&Tensor::from(ndarray::array![0.5f32])).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        let rows: Vec<usize> = x
            .array()
            .iter()
            .map(|&v| {
                // Whole numbers below num_embeddings (exact in f32 and f64).
                let row = v.to_usize().filter(|_| v.fract() == E::zero());
                match row.filter(|&r| r < self.num_embeddings) {
                    Some(r) => Ok(r),
                    None => Err(self.bad_index(v.to_string())),
                }
            })
            .collect::<Result<_>>()?;
        self.gather(rows, x.shape()).recorded(self, x)
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

    /// The rows `rows` (checked) as `(*shape, features)`.
    fn gather(&self, rows: Vec<usize>, shape: &[usize]) -> Result<Tensor<E>> {
        self.check_table()?;
        let ids = ArrayD::from_shape_vec(IxDyn(shape), rows).map_err(|_| {
            Error::invalid_argument("Embed indices", "a consistent shape", format!("{shape:?}"))
        })?;
        self.embedding.take(&ids, 0)
    }

    /// `query @ embedding.T`: `(..., features)` to `(..., num_embeddings)`
    /// (weight sharing between embeddings and output logits); differentiable
    /// in `query` and the table.
    ///
    /// # Errors
    /// When the last axis of `query` is not `features`.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let e = nnx_layers::Embed::new(4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let logits = e.attend(&Tensor::ones(&[3, 2]))?;
    /// assert_eq!(logits.shape(), &[3, 4]); // one logit per embedding
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn attend(&self, query: &Tensor<E>) -> Result<Tensor<E>> {
        self.check_table()?;
        check_last_axis("query", query.shape(), self.features)?;
        let logits = einsum("...f,nf->...n", query, &self.embedding)?;
        nnx_core::record::method(self, "attend", query, &logits);
        Ok(logits)
    }
}

/// Integer indices as a tabulate shows them: NumPy's dtype name and the shape
/// (`int32[2,5]`).
struct Indices<'a>(&'static str, &'a [usize]);

impl Describe for Indices<'_> {
    fn describe(&self) -> String {
        let Indices(rust, shape) = *self;
        let numpy = match rust {
            "i8" | "i16" | "i32" | "i64" => rust.replace('i', "int"),
            "u8" | "u16" | "u32" | "u64" => rust.replace('u', "uint"),
            "isize" => format!("int{}", usize::BITS),
            "usize" => format!("uint{}", usize::BITS),
            _ => rust.to_string(),
        };
        let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
        format!("{numpy}[{}]", dims.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr0, array};

    #[test]
    fn lookups_and_errors() -> Result<()> {
        let mut e = Embed::new(3, 2, &mut Rngs::new(0))?;
        let y = e.lookup(&arr0(2u32))?;
        assert_eq!(
            y.to_array(),
            e.embedding
                .array()
                .index_axis(ndarray::Axis(0), 2)
                .to_owned()
        );
        assert!(e.lookup(&array![-1i32]).is_err());
        assert!(e.apply(&Tensor::from(array![0.5f32])).is_err());
        assert_eq!(
            e.forward(&Tensor::from(array![[1.0f32]]))?.shape(),
            &[1, 1, 2]
        );
        assert!(e.attend(&Tensor::from(array![1.0f32, 2.0, 3.0])).is_err());
        Ok(())
    }
}
