//! Dropout (Flax's `nnx.Dropout`).

use ndarray::ArrayD;
use nnx_core::random::{bernoulli, PrngKey};
use nnx_core::rngs::{RngStream, Rngs};
use nnx_core::{Error, Result};
use nnx_tensor::Tensor;

use crate::forward::Recorded;
use crate::support::{check_rate, setters};

/// Randomly zeroes inputs with probability `rate` and scales the kept ones by
/// `1 / (1 - rate)`; identity when `deterministic` (see
/// [`Module::eval`](nnx_core::Module::eval)) or when `rate == 0`; all zeros when
/// `rate == 1`.
///
/// As in Flax 0.12 the layer owns a stream forked at construction from `rngs`'
/// `rng_collection` stream (falling back to `default`); each call draws one key
/// from it and the keep-mask is `bernoulli(key, 1 - rate, shape)` with the
/// `broadcast_dims` set to 1, bit-identical to Flax for the same seed.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::rngs::Rngs;
/// let mut d = nnx_layers::Dropout::new(0.5, &mut Rngs::new(0))?;
/// let x = nnx_tensor::Tensor::ones(&[4, 6]);
/// let y = d.forward(&x)?;
/// assert!(y.array().iter().all(|&v| v == 0.0 || v == 2.0));
/// d.eval()?;
/// assert_eq!(d.apply(&x)?, x);
/// assert_eq!(d.state().len(), 2); // the stream's key and count
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct Dropout {
    /// The dropout probability (not the keep rate).
    pub rate: f64,
    /// Axes that share one mask value (negative counts from the end).
    #[nnx(static)]
    pub broadcast_dims: Vec<isize>,
    /// No dropout when true.
    pub deterministic: bool,
    /// The `Rngs` stream the layer's own stream is forked from.
    pub rng_collection: String,
    /// The layer's random stream (`None`: every call must pass a key).
    pub rngs: Option<RngStream>,
}

/// Options of [`Dropout`], with Flax's defaults.
///
/// ```
/// let d = nnx_layers::Dropout::config(0.1).broadcast_dims(&[0])
///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
/// assert_eq!(d.broadcast_dims, vec![0]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DropoutConfig {
    rate: f64,
    broadcast_dims: Vec<isize>,
    deterministic: bool,
    rng_collection: String,
}

setters!(DropoutConfig = "nnx_layers::Dropout::config(0.5)" {
    deterministic: bool
});

impl DropoutConfig {
    /// Sets the axes sharing one mask value.
    ///
    /// ```
    /// let d = nnx_layers::Dropout::config(0.5).broadcast_dims(&[0]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(d.broadcast_dims, vec![0]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn broadcast_dims(mut self, dims: &[isize]) -> Self {
        self.broadcast_dims = dims.to_vec();
        self
    }
    /// Sets the stream to fork from (default `"dropout"`).
    ///
    /// ```
    /// let d = nnx_layers::Dropout::config(0.5).rng_collection("noise").build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(d.rng_collection, "noise");
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn rng_collection(mut self, name: impl Into<String>) -> Self {
        self.rng_collection = name.into();
        self
    }
    /// Builds the layer, forking its stream from `rngs`.
    ///
    /// # Errors
    /// When `rate` is not a probability in `[0, 1]`, or `rngs` has no
    /// `rng_collection` (nor `default`) stream.
    ///
    /// ```
    /// let d = nnx_layers::Dropout::config(0.5).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(d.rngs.is_some() && !d.deterministic);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<Dropout> {
        check_rate("Dropout rate", self.rate)?;
        let stream = rngs.stream(&self.rng_collection)?.fork();
        Ok(self.finish(Some(stream)))
    }
    /// Builds the layer without a stream; non-deterministic calls then need
    /// [`Dropout::forward_with_key`] (Flax's `rngs=None`).
    ///
    /// ```
    /// let mut d = nnx_layers::Dropout::config(0.5).build_without_rngs()?;
    /// assert!(d.forward(&nnx_tensor::Tensor::ones(&[1])).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build_without_rngs(self) -> Result<Dropout> {
        check_rate("Dropout rate", self.rate)?;
        Ok(self.finish(None))
    }
    fn finish(self, rngs: Option<RngStream>) -> Dropout {
        Dropout {
            rate: self.rate,
            broadcast_dims: self.broadcast_dims,
            deterministic: self.deterministic,
            rng_collection: self.rng_collection,
            rngs,
        }
    }
}

impl Dropout {
    /// Options with Flax's defaults (no broadcast dims, not deterministic,
    /// stream `"dropout"`).
    ///
    /// ```
    /// assert!(nnx_layers::Dropout::config(0.5).build(&mut nnx_core::rngs::Rngs::new(0)).is_ok());
    /// ```
    pub fn config(rate: f64) -> DropoutConfig {
        DropoutConfig {
            rate,
            broadcast_dims: Vec::new(),
            deterministic: false,
            rng_collection: "dropout".to_string(),
        }
    }

    /// A Dropout with Flax's defaults.
    ///
    /// ```
    /// let d = nnx_layers::Dropout::new(0.2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(d.rate, 0.2);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(rate: f64, rngs: &mut Rngs) -> Result<Dropout> {
        Self::config(rate).build(rngs)
    }

    fn is_identity(&self) -> bool {
        self.deterministic || self.rate == 0.0
    }

    /// The result when no key is needed (Flax's order: the identity when
    /// `deterministic` or `rate == 0`, zeros at `rate == 1`).
    fn without_key(&self, x: &Tensor, deterministic: bool) -> Option<Tensor> {
        if deterministic || self.rate == 0.0 {
            Some(x.clone())
        } else if self.rate == 1.0 {
            Some(Tensor::zeros(x.shape()))
        } else {
            None
        }
    }

    /// Applies dropout with a key from the layer's stream (which advances), as
    /// Flax's `__call__`; the identity when deterministic or `rate == 0`, zeros
    /// at `rate == 1` (no key drawn). Differentiable: kept elements pass
    /// `1 / (1 - rate)` of the gradient.
    ///
    /// ```
    /// let mut d = nnx_layers::Dropout::new(1.0, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(d.forward(&nnx_tensor::Tensor::scalar(3.0))?.item()?, 0.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, DropoutArgs::default())
    }

    /// Dropout with Flax's call-time arguments
    /// (`dropout(x, deterministic=..., rngs=...)`): `args.deterministic`
    /// overrides the layer's flag for this call, and with `args.rngs` the key is
    /// drawn from that `Rngs`' `rng_collection` stream (falling back to
    /// `default`, which advances) instead of the layer's own stream (left
    /// alone). For an explicit key see [`forward_with_key`](Self::forward_with_key).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::rngs::Rngs;
    /// use nnx_layers::{Dropout, DropoutArgs};
    /// let mut d = Dropout::new(0.5, &mut Rngs::new(0))?;
    /// d.eval()?;
    /// let x = nnx_tensor::Tensor::ones(&[4, 6]);
    /// // Active for this call only, with a key from another Rngs.
    /// let mut rngs = Rngs::new(1);
    /// let args = DropoutArgs { deterministic: Some(false), rngs: Some(&mut rngs) };
    /// let y = d.forward_with(&x, args)?;
    /// assert!(y.array().iter().all(|&v| v == 0.0 || v == 2.0));
    /// assert_eq!(rngs.stream("dropout")?.count(), 1); // the call's stream advanced
    /// assert_eq!(d.rngs.as_ref().map(|s| s.count()), Some(0)); // the layer's did not
    /// assert_eq!(d.forward(&x)?, x); // still deterministic
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// `broadcast_dims` outside the input, or no stream to draw from (neither
    /// `args.rngs` nor the layer's), or `args.rngs` without the stream.
    pub fn forward_with(&mut self, x: &Tensor, args: DropoutArgs<'_>) -> Result<Tensor> {
        let deterministic = args.deterministic.unwrap_or(self.deterministic);
        if let Some(y) = self.without_key(x, deterministic) {
            return Ok(y).recorded(self, x);
        }
        let key = match args.rngs {
            Some(rngs) => rngs.next_key(&self.rng_collection)?,
            None => self.next_key()?,
        };
        self.drop_with(x, key)
    }

    /// Dropout from a shared reference: the identity when deterministic or
    /// `rate == 0`, zeros at `rate == 1`; otherwise `Err`, since drawing a mask
    /// advances the layer's stream (call `eval()`, use
    /// [`forward`](Self::forward), [`apply_with`](Self::apply_with) with call-time
    /// `rngs`, or [`forward_with_key`](Self::forward_with_key)).
    ///
    /// ```
    /// use nnx_core::Module;
    /// let mut d = nnx_layers::Dropout::new(0.5, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let x = nnx_tensor::Tensor::ones(&[3]);
    /// assert!(d.apply(&x).is_err());
    /// d.eval()?;
    /// assert_eq!(d.apply(&x)?, x);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        self.apply_with(x, DropoutArgs::default())
    }

    /// [`forward_with`](Self::forward_with) from a shared reference: works
    /// whenever the layer itself would not change, that is when the call is
    /// deterministic, `rate` is 0 or 1, or `args.rngs` provides the key;
    /// otherwise `Err` naming `deterministic`.
    ///
    /// ```
    /// use nnx_core::rngs::Rngs;
    /// use nnx_layers::{Dropout, DropoutArgs};
    /// let d = Dropout::new(0.5, &mut Rngs::new(0))?;
    /// let x = nnx_tensor::Tensor::ones(&[3]);
    /// let eval = DropoutArgs { deterministic: Some(true), ..Default::default() };
    /// assert_eq!(d.apply_with(&x, eval)?, x);
    /// let mut rngs = Rngs::new(1);
    /// assert!(d.apply_with(&x, DropoutArgs { rngs: Some(&mut rngs), ..Default::default() }).is_ok());
    /// assert!(d.apply_with(&x, DropoutArgs::default()).is_err()); // would advance the layer's stream
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`forward_with`](Self::forward_with), and the case above.
    pub fn apply_with(&self, x: &Tensor, args: DropoutArgs<'_>) -> Result<Tensor> {
        let deterministic = args.deterministic.unwrap_or(self.deterministic);
        if let Some(y) = self.without_key(x, deterministic) {
            return Ok(y).recorded(self, x);
        }
        match args.rngs {
            Some(rngs) => self.drop_with(x, rngs.next_key(&self.rng_collection)?),
            None => Err(Error::invalid_argument(
                "Dropout::apply",
                "deterministic == true, rate == 0 or call-time rngs (call eval() or use forward)",
                format!(
                    "deterministic == false and rate == {}: forward draws a key from the stream",
                    self.rate
                ),
            )),
        }
    }

    /// The keep-mask [`forward`](Self::forward) would use for an input of
    /// `shape` (`true`: kept and scaled by `1 / (1 - rate)`), drawing the same
    /// key from the layer's stream (which advances); `None` when the layer is
    /// the identity. For differentiable inputs: `Tensor::dropout(&mask, rate)`
    /// in `nnx-tensor`. The mask has size 1 on the `broadcast_dims`.
    ///
    /// # Errors
    /// As [`forward`](Self::forward): no stream, or `broadcast_dims` outside
    /// `shape`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let layer = || nnx_layers::Dropout::config(0.5).broadcast_dims(&[0])
    ///     .build(&mut nnx_core::rngs::Rngs::new(0));
    /// let (mut d, mut same) = (layer()?, layer()?);
    /// let mask = d.mask(&[4, 6])?.unwrap();
    /// assert_eq!(mask.shape(), &[1, 6]);
    /// // The mask `forward` draws from the same stream state.
    /// let y = same.forward(&nnx_tensor::Tensor::ones(&[4, 6]))?;
    /// assert_eq!(y.array().mapv(|v| v == 2.0), mask.broadcast(y.shape()).unwrap());
    /// d.eval()?;
    /// assert!(d.mask(&[4, 6])?.is_none());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn mask(&mut self, shape: &[usize]) -> Result<Option<ArrayD<bool>>> {
        if self.is_identity() {
            return Ok(None);
        }
        // Flax returns zeros at rate 1 without drawing a key.
        if self.rate == 1.0 {
            return Ok(Some(ArrayD::from_elem(self.mask_shape(shape)?, false)));
        }
        let key = self.next_key()?;
        self.keep_mask(shape, key).map(Some)
    }

    fn next_key(&mut self) -> Result<PrngKey> {
        match self.rngs.as_mut() {
            Some(s) => Ok(s.next_key()),
            None => Err(Error::invalid_argument(
                "Dropout rngs",
                "a stream (build with rngs) or a key passed to forward_with_key",
                "none",
            )),
        }
    }

    /// Applies dropout with an explicit key (Flax's call-time `rngs=key`); the
    /// layer's stream is left alone.
    ///
    /// ```
    /// use nnx_core::random::key;
    /// let d = nnx_layers::Dropout::config(0.5).build_without_rngs()?;
    /// let x = nnx_tensor::Tensor::ones(&[8]);
    /// assert_eq!(d.forward_with_key(&x, key(1))?, d.forward_with_key(&x, key(1))?);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward_with_key(&self, x: &Tensor, key: PrngKey) -> Result<Tensor> {
        match self.without_key(x, self.deterministic) {
            Some(y) => Ok(y).recorded(self, x),
            None => self.drop_with(x, key),
        }
    }

    /// Dropout with the mask drawn from `key`.
    fn drop_with(&self, x: &Tensor, key: PrngKey) -> Result<Tensor> {
        x.dropout(&self.keep_mask(x.shape(), key)?, self.rate as f32)
            .recorded(self, x)
    }

    /// `shape` with the `broadcast_dims` set to 1.
    fn mask_shape(&self, shape: &[usize]) -> Result<Vec<usize>> {
        let mut shape = shape.to_vec();
        for &d in &self.broadcast_dims {
            let a = if d < 0 { d + shape.len() as isize } else { d };
            if a < 0 || a as usize >= shape.len() {
                return Err(Error::invalid_argument(
                    "Dropout broadcast_dims",
                    format!("axes of an input of rank {}", shape.len()),
                    format!("{:?}", self.broadcast_dims),
                ));
            }
            shape[a as usize] = 1;
        }
        Ok(shape)
    }

    /// JAX takes `p` as float32 and divides by the float32 keep rate.
    fn keep_prob(&self) -> f32 {
        (1.0 - self.rate) as f32
    }

    /// Flax's `bernoulli(key, 1 - rate, shape)` with the broadcast dims at 1.
    fn keep_mask(&self, shape: &[usize], key: PrngKey) -> Result<ArrayD<bool>> {
        check_rate("Dropout rate", self.rate)?;
        bernoulli(key, self.keep_prob(), &self.mask_shape(shape)?)
    }
}

/// The call-time arguments of [`Dropout::forward_with`] /
/// [`Dropout::apply_with`] (Flax's `__call__` keywords), all `None` by default:
/// the layer's own flag and stream.
///
/// ```
/// let args = nnx_layers::DropoutArgs { deterministic: Some(true), ..Default::default() };
/// assert!(args.rngs.is_none());
/// ```
#[derive(Debug, Default)]
pub struct DropoutArgs<'a> {
    /// Overrides the layer's `deterministic` for this call.
    pub deterministic: Option<bool>,
    /// Draws this call's key from these `Rngs` (their `rng_collection` stream,
    /// else `default`) instead of the layer's stream.
    pub rngs: Option<&'a mut Rngs>,
}
