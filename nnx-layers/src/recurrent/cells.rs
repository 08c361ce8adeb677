//! The recurrent cells, built from [`Linear`] layers with Flax's paths,
//! initializers and key order.

use std::marker::PhantomData;

use nnx_core::init::{lecun_normal, orthogonal, zeros, Init, ParamInit};
use nnx_core::rngs::{RngStream, Rngs};
use nnx_core::{Error, Result};
use nnx_tensor::{Element, Tensor};

use super::RNNCellBase;
use crate::forward::Recorded;
use crate::linear::check_last_axis;
use crate::support::check_config;
use crate::Linear;

/// An elementwise function of a cell (Flax's `gate_fn`, `activation_fn`): any
/// differentiable function of a Tensor, e.g. `Tensor::sigmoid`, `Tensor::relu`
/// or your own `fn`. A static hyperparameter (it lives in the GraphDef).
///
/// ```
/// use nnx_layers::ActivationFn;
/// use nnx_tensor::Tensor;
/// let f: ActivationFn = Tensor::tanh;
/// assert_eq!(f(&Tensor::scalar(0.0)), Tensor::scalar(0.0));
/// ```
pub type ActivationFn<E = f32> = fn(&Tensor<E>) -> Tensor<E>;

/// Options of a recurrent cell `C`, with Flax's defaults: `lecun_normal`
/// input kernels, `orthogonal` recurrent kernels, zero biases, sigmoid gates
/// and tanh activations. From
/// [`SimpleCell::config`], [`LSTMCell::config`], [`OptimizedLSTMCell::config`]
/// or [`GRUCell::config`].
///
/// ```
/// use nnx_core::{init, rngs::Rngs};
/// use nnx_layers::GRUCell;
/// let cell = GRUCell::config(3, 4).bias_init(init::ones()).build(&mut Rngs::new(0))?;
/// assert_eq!(cell.dense_i.bias.as_ref().map(|b| b.array().sum()), Some(12.0));
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CellConfig<C, E: Element = f32> {
    in_features: usize,
    hidden_features: usize,
    kernel_init: ParamInit<E>,
    recurrent_kernel_init: ParamInit<E>,
    bias_init: ParamInit<E>,
    gate_fn: ActivationFn<E>,
    activation_fn: ActivationFn<E>,
    residual: bool,
    cell: PhantomData<fn() -> C>,
}

impl<C, E: Element> CellConfig<C, E> {
    /// The options of a cell `C` of element type `E` (Flax's
    /// `param_dtype=dtype=E`), from Flax's defaults; `LSTMCell::config` and the
    /// others are this for `f32`.
    ///
    /// ```
    /// use nnx_core::rngs::{RngStream, Rngs};
    /// use nnx_layers::{CellConfig, LSTMCell, RNNCellBase};
    /// use nnx_tensor::Tensor;
    /// let cell = CellConfig::<LSTMCell<f64>, f64>::new(3, 4).build(&mut Rngs::new(0))?;
    /// let carry = cell.initialize_carry(&[2, 3], &mut RngStream::new("carry", 0))?;
    /// let (_, y) = cell.apply(&carry, &Tensor::<f64>::full(&[2, 3], 1.0))?;
    /// assert!(y.to_string().ends_with("dtype=float64)"));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(in_features: usize, hidden_features: usize) -> Self {
        CellConfig {
            in_features,
            hidden_features,
            kernel_init: lecun_normal().into(),
            recurrent_kernel_init: orthogonal(1.0, -1).into(),
            bias_init: zeros().into(),
            gate_fn: Tensor::sigmoid,
            activation_fn: Tensor::tanh,
            residual: false,
            cell: PhantomData,
        }
    }

    /// Sets `kernel_init`, of the input kernels (default `lecun_normal()`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let cell = nnx_layers::SimpleCell::config(3, 4).kernel_init(init::ones()).build(&mut Rngs::new(0))?;
    /// assert_eq!(cell.dense_i.kernel.array().sum(), 12.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn kernel_init(mut self, init: impl Into<ParamInit<E>>) -> Self {
        self.kernel_init = init.into();
        self
    }

    /// Sets `recurrent_kernel_init`, of the hidden-to-hidden kernels (default
    /// `orthogonal()`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let cell = nnx_layers::SimpleCell::config(3, 4).recurrent_kernel_init(init::zeros()).build(&mut Rngs::new(0))?;
    /// assert_eq!(cell.dense_h.kernel.array().sum(), 0.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn recurrent_kernel_init(mut self, init: impl Into<ParamInit<E>>) -> Self {
        self.recurrent_kernel_init = init.into();
        self
    }

    /// Sets `bias_init` (default `zeros`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let cell = nnx_layers::SimpleCell::config(3, 4).bias_init(init::ones()).build(&mut Rngs::new(0))?;
    /// assert_eq!(cell.dense_i.bias.as_ref().map(|b| b.array().sum()), Some(4.0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn bias_init(mut self, init: impl Into<ParamInit<E>>) -> Self {
        self.bias_init = init.into();
        self
    }

    /// Sets `activation_fn` (default `Tensor::tanh`; the SimpleCell's only
    /// function, the LSTM's cell candidate and output squashing, the GRU's
    /// candidate).
    ///
    /// ```
    /// use nnx_core::rngs::Rngs;
    /// use nnx_tensor::Tensor;
    /// let cell = nnx_layers::SimpleCell::config(3, 4).activation_fn(Tensor::relu).build(&mut Rngs::new(0))?;
    /// let (h, _) = cell.apply(&Tensor::zeros(&[4]), &Tensor::ones(&[3]))?;
    /// assert!(h.array().iter().all(|&v| v >= 0.0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn activation_fn(mut self, f: ActivationFn<E>) -> Self {
        self.activation_fn = f;
        self
    }

    /// A dense layer of this cell: `kernel` from `kernel`, a bias from
    /// `bias_init` when `bias`.
    fn dense(
        &self,
        fin: usize,
        fout: usize,
        kernel: &ParamInit<E>,
        bias: bool,
        rngs: &mut Rngs,
    ) -> Result<Linear<E>> {
        crate::LinearConfig::new(fin, fout)
            .use_bias(bias)
            .kernel_init(kernel.clone())
            .bias_init(self.bias_init.clone())
            .build(rngs)
    }

    /// The input-to-hidden layer with `n` gates.
    fn input(&self, n: usize, bias: bool, rngs: &mut Rngs) -> Result<Linear<E>> {
        self.dense(
            self.in_features,
            n * self.hidden_features,
            &self.kernel_init,
            bias,
            rngs,
        )
    }

    /// The hidden-to-hidden layer with `n` gates.
    fn recurrent(&self, n: usize, bias: bool, rngs: &mut Rngs) -> Result<Linear<E>> {
        let h = self.hidden_features;
        self.dense(h, n * h, &self.recurrent_kernel_init, bias, rngs)
    }

    fn check(&self, cell: &str) -> Result<()> {
        check_config(
            self.in_features > 0 && self.hidden_features > 0,
            &format!("{cell} in_features / hidden_features"),
            "positive feature counts",
            format!("{} / {}", self.in_features, self.hidden_features),
        )
    }
}

/// `gate_fn` for the gated cells.
macro_rules! gate_fn_setter {
    ($($cell:ident),*) => {$(
        impl<E: Element> CellConfig<$cell<E>, E> {
            /// Sets `gate_fn` (default `Tensor::sigmoid`).
            ///
            /// ```
            /// use nnx_core::rngs::Rngs;
            /// use nnx_tensor::Tensor;
            #[doc = concat!("let cell = nnx_layers::", stringify!($cell), "::config(3, 4).gate_fn(Tensor::relu).build(&mut Rngs::new(0))?;")]
            /// assert_eq!((cell.gate_fn)(&Tensor::scalar(-1.0)), Tensor::scalar(0.0));
            /// # Ok::<(), nnx_core::Error>(())
            /// ```
            pub fn gate_fn(mut self, f: ActivationFn<E>) -> Self {
                self.gate_fn = f;
                self
            }
        }
    )*};
}

gate_fn_setter!(LSTMCell, OptimizedLSTMCell, GRUCell);

impl<E: Element> CellConfig<SimpleCell<E>, E> {
    /// Sets `residual`: add the old carry before the activation (default false).
    ///
    /// ```
    /// let cell = nnx_layers::SimpleCell::config(3, 4).residual(true).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(cell.residual);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn residual(mut self, residual: bool) -> Self {
        self.residual = residual;
        self
    }

    /// Creates the cell, drawing `dense_h`'s kernel key, then `dense_i`'s kernel
    /// and bias keys from the `params` stream, as Flax does.
    ///
    /// # Errors
    /// When a feature count is 0.
    ///
    /// ```
    /// let cell = nnx_layers::SimpleCell::config(3, 4).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(cell.dense_h.kernel.shape(), &[4, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<SimpleCell<E>> {
        self.check("SimpleCell")?;
        let dense_h = self.recurrent(1, false, rngs)?;
        let dense_i = self.input(1, true, rngs)?;
        Ok(SimpleCell {
            dense_h,
            dense_i,
            in_features: self.in_features,
            hidden_features: self.hidden_features,
            residual: self.residual,
            activation_fn: self.activation_fn,
        })
    }
}

impl<E: Element> CellConfig<LSTMCell<E>, E> {
    /// Creates the cell: the input layers `ii`, `if_`, `ig`, `io` (no bias),
    /// then the recurrent layers `hi`, `hf`, `hg`, `ho`, drawing keys in that
    /// order, as Flax does.
    ///
    /// # Errors
    /// When a feature count is 0.
    ///
    /// ```
    /// let cell = nnx_layers::LSTMCell::config(3, 4).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(cell.ii.bias.is_none() && cell.hi.bias.is_some());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<LSTMCell<E>> {
        self.check("LSTMCell")?;
        let [ii, if_, ig, io] = [(); 4].map(|()| self.input(1, false, rngs));
        let [hi, hf, hg, ho] = [(); 4].map(|()| self.recurrent(1, true, rngs));
        Ok(LSTMCell {
            ii: ii?,
            if_: if_?,
            ig: ig?,
            io: io?,
            hi: hi?,
            hf: hf?,
            hg: hg?,
            ho: ho?,
            in_features: self.in_features,
            hidden_features: self.hidden_features,
            gate_fn: self.gate_fn,
            activation_fn: self.activation_fn,
        })
    }
}

impl<E: Element> CellConfig<OptimizedLSTMCell<E>, E> {
    /// Creates the cell: `dense_i` (all four gates, no bias), then `dense_h`,
    /// as Flax does.
    ///
    /// # Errors
    /// When a feature count is 0.
    ///
    /// ```
    /// let cell = nnx_layers::OptimizedLSTMCell::config(3, 4).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(cell.dense_h.kernel.shape(), &[4, 16]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<OptimizedLSTMCell<E>> {
        self.check("OptimizedLSTMCell")?;
        let dense_i = self.input(4, false, rngs)?;
        let dense_h = self.recurrent(4, true, rngs)?;
        Ok(OptimizedLSTMCell {
            dense_i,
            dense_h,
            in_features: self.in_features,
            hidden_features: self.hidden_features,
            gate_fn: self.gate_fn,
            activation_fn: self.activation_fn,
        })
    }
}

impl<E: Element> CellConfig<GRUCell<E>, E> {
    /// Creates the cell: `dense_i` (gates r, z, n, with a bias), then `dense_h`
    /// (no bias), as Flax does.
    ///
    /// # Errors
    /// When a feature count is 0.
    ///
    /// ```
    /// let cell = nnx_layers::GRUCell::config(3, 4).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(cell.dense_i.kernel.shape(), &[3, 12]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<GRUCell<E>> {
        self.check("GRUCell")?;
        let dense_i = self.input(3, true, rngs)?;
        let dense_h = self.recurrent(3, false, rngs)?;
        Ok(GRUCell {
            dense_i,
            dense_h,
            in_features: self.in_features,
            hidden_features: self.hidden_features,
            gate_fn: self.gate_fn,
            activation_fn: self.activation_fn,
        })
    }
}

/// `x[..., k*width : (k+1)*width]`: gate `k` of a fused projection.
fn gate<E: Element>(x: &Tensor<E>, k: usize, width: usize) -> Result<Tensor<E>> {
    x.slice(-1, k * width..(k + 1) * width)
}

/// `Err` unless `x` has `features` on its last axis and every carry array has
/// `x`'s batch shape and `hidden` features.
fn check_step<E: Element>(
    carry: &[&Tensor<E>],
    x: &Tensor<E>,
    features: usize,
    hidden: usize,
) -> Result<()> {
    check_last_axis("x", x.shape(), features)?;
    match carry {
        [c] => check_carry("carry", c, x, hidden),
        _ => carry
            .iter()
            .enumerate()
            .try_for_each(|(i, c)| check_carry(&format!("carry/{i}"), c, x, hidden)),
    }
}

/// `Err` unless `carry` has the batch shape of `x` and `hidden` features.
fn check_carry<E: Element>(
    what: &str,
    carry: &Tensor<E>,
    x: &Tensor<E>,
    hidden: usize,
) -> Result<()> {
    let mut want = x.shape()[..x.ndim().saturating_sub(1)].to_vec();
    want.push(hidden);
    if carry.shape() == want.as_slice() {
        return Ok(());
    }
    Err(Error::ShapeMismatch {
        path: nnx_core::ErrorPath(what.into()),
        expected: nnx_core::repr::fmt_tuple_usize(&want),
        found: nnx_core::repr::fmt_tuple_usize(carry.shape()),
    })
}

/// `n` carry arrays of shape `(*batch, hidden)`, each from the next key.
fn carry_arrays<E: Element>(
    n: usize,
    input_shape: &[usize],
    hidden: usize,
    rngs: &mut RngStream,
    init: &Init<E>,
) -> Result<Vec<Tensor<E>>> {
    let Some((_, batch)) = input_shape.split_last() else {
        return Err(Error::invalid_argument(
            "initialize_carry",
            "an input shape (*batch, in_features)",
            "()",
        ));
    };
    let mut shape = batch.to_vec();
    shape.push(hidden);
    crate::support::check_alloc("carry shape", &shape, std::mem::size_of::<E>())?;
    (0..n)
        .map(|_| Ok(Tensor::from_array(init.init(rngs.next_key(), &shape)?)))
        .collect()
}

/// `y = activation(dense_i(x) + dense_h(h) [+ h])`, carry and output both `y`
/// (Flax's `nnx.SimpleCell`, an Elman cell with tanh).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::SimpleCell;
/// use nnx_tensor::Tensor;
/// let cell = SimpleCell::new(3, 4, &mut Rngs::new(0))?;
/// let (h, y) = cell.apply(&Tensor::zeros(&[2, 4]), &Tensor::ones(&[2, 3]))?;
/// assert_eq!((h.shape(), &h), (&[2, 4][..], &y));
/// let paths: Vec<String> = cell.state().flat_state().paths().iter().map(|p| nnx_core::path_string(p).to_string()).collect();
/// assert_eq!(paths, ["dense_h/kernel", "dense_i/bias", "dense_i/kernel"]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct SimpleCell<E: Element = f32> {
    /// Hidden to hidden, `(hidden, hidden)`, no bias.
    pub dense_h: Linear<E>,
    /// Input to hidden, `(in, hidden)` with a bias.
    pub dense_i: Linear<E>,
    /// Size of the last input axis.
    pub in_features: usize,
    /// Size of the carry and output.
    pub hidden_features: usize,
    /// Whether the old carry is added before the activation.
    pub residual: bool,
    /// The activation (Flax's `activation_fn`, default tanh).
    #[nnx(static)]
    pub activation_fn: ActivationFn<E>,
}

/// The LSTM cell with one dense layer per gate (Flax's `nnx.LSTMCell`):
/// `i = σ(ii(x) + hi(h))`, `f = σ(if_(x) + hf(h))`, `g = tanh(ig(x) + hg(h))`,
/// `o = σ(io(x) + ho(h))`, `c' = f·c + i·g`, `h' = o·tanh(c')`; the carry is
/// `(c, h)`, the output `h'`.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::LSTMCell;
/// use nnx_tensor::Tensor;
/// let cell = LSTMCell::new(3, 4, &mut Rngs::new(0))?;
/// let zero = (Tensor::zeros(&[4]), Tensor::zeros(&[4]));
/// let ((c, h), y) = cell.apply(&zero, &Tensor::ones(&[3]))?;
/// assert_eq!((c.shape(), &h), (&[4][..], &y));
/// assert_eq!(cell.state().len(), 12);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct LSTMCell<E: Element = f32> {
    /// Input gate, input side.
    pub ii: Linear<E>,
    /// Forget gate, input side (`if_` as in Flax).
    pub if_: Linear<E>,
    /// Cell candidate, input side.
    pub ig: Linear<E>,
    /// Output gate, input side.
    pub io: Linear<E>,
    /// Input gate, hidden side.
    pub hi: Linear<E>,
    /// Forget gate, hidden side.
    pub hf: Linear<E>,
    /// Cell candidate, hidden side.
    pub hg: Linear<E>,
    /// Output gate, hidden side.
    pub ho: Linear<E>,
    /// Size of the last input axis.
    pub in_features: usize,
    /// Size of `c`, `h` and the output.
    pub hidden_features: usize,
    /// The gate function (Flax's `gate_fn`, default sigmoid).
    #[nnx(static)]
    pub gate_fn: ActivationFn<E>,
    /// The candidate and output activation (Flax's `activation_fn`, default tanh).
    #[nnx(static)]
    pub activation_fn: ActivationFn<E>,
}

/// The LSTM cell with the four gates fused into two dense layers (Flax's
/// `nnx.OptimizedLSTMCell`): the same function as [`LSTMCell`] with one GEMM
/// per side; gates in the order i, f, g, o.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::OptimizedLSTMCell;
/// use nnx_tensor::Tensor;
/// let cell = OptimizedLSTMCell::new(3, 4, &mut Rngs::new(0))?;
/// let zero = (Tensor::zeros(&[2, 4]), Tensor::zeros(&[2, 4]));
/// let (_, y) = cell.apply(&zero, &Tensor::ones(&[2, 3]))?;
/// assert_eq!(y.shape(), &[2, 4]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct OptimizedLSTMCell<E: Element = f32> {
    /// Input to the four gates, `(in, 4 * hidden)`, no bias.
    pub dense_i: Linear<E>,
    /// Hidden to the four gates, `(hidden, 4 * hidden)` with a bias.
    pub dense_h: Linear<E>,
    /// Size of the last input axis.
    pub in_features: usize,
    /// Size of `c`, `h` and the output.
    pub hidden_features: usize,
    /// The gate function (Flax's `gate_fn`, default sigmoid).
    #[nnx(static)]
    pub gate_fn: ActivationFn<E>,
    /// The candidate and output activation (Flax's `activation_fn`, default tanh).
    #[nnx(static)]
    pub activation_fn: ActivationFn<E>,
}

/// The GRU cell (Flax's `nnx.GRUCell`): `r = σ(x_r + h_r)`, `z = σ(x_z + h_z)`,
/// `n = tanh(x_n + r·h_n)`, `h' = (1 - z)·n + z·h`, with `x_* = dense_i(x)` and
/// `h_* = dense_h(h)` split in three; carry and output `h'`.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::GRUCell;
/// use nnx_tensor::Tensor;
/// let cell = GRUCell::new(3, 4, &mut Rngs::new(0))?;
/// let (h, y) = cell.apply(&Tensor::zeros(&[4]), &Tensor::ones(&[3]))?;
/// assert_eq!(h, y);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct GRUCell<E: Element = f32> {
    /// Input to the three gates, `(in, 3 * hidden)` with a bias.
    pub dense_i: Linear<E>,
    /// Hidden to the three gates, `(hidden, 3 * hidden)`, no bias.
    pub dense_h: Linear<E>,
    /// Size of the last input axis.
    pub in_features: usize,
    /// Size of the carry and output.
    pub hidden_features: usize,
    /// The gate function (Flax's `gate_fn`, default sigmoid).
    #[nnx(static)]
    pub gate_fn: ActivationFn<E>,
    /// The candidate and output activation (Flax's `activation_fn`, default tanh).
    #[nnx(static)]
    pub activation_fn: ActivationFn<E>,
}

/// The constructors and the inherent `forward`/`apply` every cell has.
macro_rules! cell_api {
    ($cell:ident, $carry:ty, $example_carry:literal) => {
        impl $cell {
            #[doc = concat!("A cell with Flax's defaults: `", stringify!($cell), "::config(in, hidden).build(rngs)`.")]
            ///
            /// ```
            #[doc = concat!("let cell = nnx_layers::", stringify!($cell), "::new(3, 4, &mut nnx_core::rngs::Rngs::new(0))?;")]
            /// assert_eq!((cell.in_features, cell.hidden_features), (3, 4));
            /// # Ok::<(), nnx_core::Error>(())
            /// ```
            pub fn new(in_features: usize, hidden_features: usize, rngs: &mut Rngs) -> Result<$cell> {
                $cell::config(in_features, hidden_features).build(rngs)
            }

            /// The options, starting from Flax's defaults.
            ///
            /// ```
            #[doc = concat!("let cell = nnx_layers::", stringify!($cell), "::config(3, 4).build(&mut nnx_core::rngs::Rngs::new(0))?;")]
            /// assert_eq!(cell.hidden_features, 4);
            #[doc = concat!("assert!(nnx_layers::", stringify!($cell), "::config(3, 0).build(&mut nnx_core::rngs::Rngs::new(0)).is_err());")]
            /// # Ok::<(), nnx_core::Error>(())
            /// ```
            pub fn config(in_features: usize, hidden_features: usize) -> CellConfig<$cell> {
                CellConfig::new(in_features, hidden_features)
            }
        }

        impl<E: Element> $cell<E> {
            /// One step (Flax's `cell(carry, x)`): `x` is `(*batch, in_features)`,
            /// the carry's arrays `(*batch, hidden_features)`. Nothing to update,
            /// so the same as [`apply`](Self::apply).
            ///
            /// ```
            /// use nnx_core::prelude::*;
            /// use nnx_tensor::Tensor;
            #[doc = concat!("let mut cell = nnx_layers::", stringify!($cell), "::new(3, 4, &mut Rngs::new(0))?;")]
            #[doc = concat!("let carry = ", $example_carry, ";")]
            /// let (_, y) = cell.forward(&carry, &Tensor::ones(&[2, 3]))?;
            /// assert_eq!(y.shape(), &[2, 4]);
            /// # Ok::<(), nnx_core::Error>(())
            /// ```
            pub fn forward(&mut self, carry: &$carry, x: &Tensor<E>) -> Result<($carry, Tensor<E>)> {
                self.apply(carry, x)
            }

            /// [`forward`](Self::forward) from a shared reference.
            ///
            /// # Errors
            /// A shape mismatch when `x`'s last axis is not `in_features` or the
            /// carry does not have `x`'s batch shape and `hidden_features`.
            ///
            /// ```
            /// use nnx_core::prelude::*;
            /// use nnx_tensor::Tensor;
            #[doc = concat!("let cell = nnx_layers::", stringify!($cell), "::new(3, 4, &mut Rngs::new(0))?;")]
            #[doc = concat!("let carry = ", $example_carry, ";")]
            /// assert!(cell.apply(&carry, &Tensor::ones(&[5, 3])).is_err()); // batch 5, carry batch 2
            /// # Ok::<(), nnx_core::Error>(())
            /// ```
            pub fn apply(&self, carry: &$carry, x: &Tensor<E>) -> Result<($carry, Tensor<E>)> {
                self.step(carry, x).recorded(self, &(carry, x))
            }
        }
    };
}

cell_api!(SimpleCell, Tensor<E>, "Tensor::zeros(&[2, 4])");
cell_api!(
    LSTMCell,
    (Tensor<E>, Tensor<E>),
    "(Tensor::zeros(&[2, 4]), Tensor::zeros(&[2, 4]))"
);
cell_api!(
    OptimizedLSTMCell,
    (Tensor<E>, Tensor<E>),
    "(Tensor::zeros(&[2, 4]), Tensor::zeros(&[2, 4]))"
);
cell_api!(GRUCell, Tensor<E>, "Tensor::zeros(&[2, 4])");

/// `f·c + i·g` and `o·activation(c')`: the LSTM update from its activated gates.
#[allow(clippy::type_complexity)] // ((c, h), y)
fn lstm_update<E: Element>(
    c: &Tensor<E>,
    [i, f, g, o]: [Tensor<E>; 4],
    activation: ActivationFn<E>,
) -> Result<((Tensor<E>, Tensor<E>), Tensor<E>)> {
    let new_c = ((&f * c)? + (&i * &g)?)?;
    let new_h = (&o * &activation(&new_c))?;
    Ok(((new_c, new_h.clone()), new_h))
}

impl<E: Element> SimpleCell<E> {
    fn step(&self, carry: &Tensor<E>, x: &Tensor<E>) -> Result<(Tensor<E>, Tensor<E>)> {
        check_step(&[carry], x, self.in_features, self.hidden_features)?;
        let mut pre = (self.dense_i.apply(x)? + self.dense_h.apply(carry)?)?;
        if self.residual {
            pre = (&pre + carry)?;
        }
        let h = (self.activation_fn)(&pre);
        Ok((h.clone(), h))
    }
}

impl<E: Element> LSTMCell<E> {
    #[allow(clippy::type_complexity)] // ((c, h), y)
    fn step(
        &self,
        (c, h): &(Tensor<E>, Tensor<E>),
        x: &Tensor<E>,
    ) -> Result<((Tensor<E>, Tensor<E>), Tensor<E>)> {
        check_step(&[c, h], x, self.in_features, self.hidden_features)?;
        let pre = |i: &Linear<E>, hh: &Linear<E>| i.apply(x)? + hh.apply(h)?;
        let (gate_fn, act) = (self.gate_fn, self.activation_fn);
        let gates = [
            gate_fn(&pre(&self.ii, &self.hi)?),
            gate_fn(&pre(&self.if_, &self.hf)?),
            act(&pre(&self.ig, &self.hg)?),
            gate_fn(&pre(&self.io, &self.ho)?),
        ];
        lstm_update(c, gates, act)
    }
}

impl<E: Element> OptimizedLSTMCell<E> {
    #[allow(clippy::type_complexity)] // ((c, h), y)
    fn step(
        &self,
        (c, h): &(Tensor<E>, Tensor<E>),
        x: &Tensor<E>,
    ) -> Result<((Tensor<E>, Tensor<E>), Tensor<E>)> {
        check_step(&[c, h], x, self.in_features, self.hidden_features)?;
        let y = (self.dense_i.apply(x)? + self.dense_h.apply(h)?)?;
        let w = self.hidden_features;
        let (gate_fn, act) = (self.gate_fn, self.activation_fn);
        let gates = [
            gate_fn(&gate(&y, 0, w)?),
            gate_fn(&gate(&y, 1, w)?),
            act(&gate(&y, 2, w)?),
            gate_fn(&gate(&y, 3, w)?),
        ];
        lstm_update(c, gates, act)
    }
}

impl<E: Element> GRUCell<E> {
    fn step(&self, h: &Tensor<E>, x: &Tensor<E>) -> Result<(Tensor<E>, Tensor<E>)> {
        check_step(&[h], x, self.in_features, self.hidden_features)?;
        let xs = self.dense_i.apply(x)?;
        let hs = self.dense_h.apply(h)?;
        let w = self.hidden_features;
        let r = (self.gate_fn)(&(gate(&xs, 0, w)? + gate(&hs, 0, w)?)?);
        let z = (self.gate_fn)(&(gate(&xs, 1, w)? + gate(&hs, 1, w)?)?);
        let n = (self.activation_fn)(&(gate(&xs, 2, w)? + (&r * &gate(&hs, 2, w)?)?)?);
        let one_minus_z = (&Tensor::full(&[], E::one()) - &z)?;
        let new_h = ((&one_minus_z * &n)? + (&z * h)?)?;
        Ok((new_h.clone(), new_h))
    }
}

/// [`RNNCellBase`] for the library's cells: `apply` is the inherent one, the
/// carry has `n` arrays.
macro_rules! cell_base {
    ($cell:ident, $carry:ty, $n:literal) => {
        impl<E: Element> RNNCellBase<E> for $cell<E> {
            type Carry = $carry;

            fn apply(&self, carry: &$carry, x: &Tensor<E>) -> Result<($carry, Tensor<E>)> {
                self.step(carry, x)
            }

            fn initialize_carry_with(
                &self,
                input_shape: &[usize],
                rngs: &mut RngStream,
                init: &Init<E>,
            ) -> Result<$carry> {
                let leaves = carry_arrays($n, input_shape, self.hidden_features, rngs, init)?;
                super::Carry::from_leaves(leaves)
            }
        }
    };
}

cell_base!(SimpleCell, Tensor<E>, 1);
cell_base!(LSTMCell, (Tensor<E>, Tensor<E>), 2);
cell_base!(OptimizedLSTMCell, (Tensor<E>, Tensor<E>), 2);
cell_base!(GRUCell, Tensor<E>, 1);
