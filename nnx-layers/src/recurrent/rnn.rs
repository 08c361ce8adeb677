//! `RNN` (a cell scanned over time) and `Bidirectional`.

use nnx_core::rngs::RngStream;
use nnx_core::{Error, Result};
use nnx_tensor::{concat, Element, Tensor};

use super::{Carry, RNNCellBase};

/// `inputs` reversed along time (Flax's `flip_sequences`). With
/// `seq_lengths` (one per example, a single batch axis) only each example's
/// first `seq_lengths[b]` steps are reversed, in place; the padding after them
/// comes first then (it is rotated to the front, as Flax's modular indexing
/// does). Differentiable.
///
/// ```
/// use nnx_layers::flip_sequences;
/// use nnx_tensor::Tensor;
/// // batch 2, time 3, one feature; example 0 has length 2.
/// let x = Tensor::from_shape_vec(&[2, 3, 1], vec![1.0, 2.0, 0.0, 4.0, 5.0, 6.0])?;
/// assert_eq!(flip_sequences(&x, None, 1, false)?.array().iter().copied().collect::<Vec<_>>(), [0.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
/// let y = flip_sequences(&x, Some(&[2, 3]), 1, false)?;
/// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), [2.0, 1.0, 0.0, 6.0, 5.0, 4.0]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn flip_sequences<E: Element>(
    inputs: &Tensor<E>,
    seq_lengths: Option<&[usize]>,
    num_batch_dims: usize,
    time_major: bool,
) -> Result<Tensor<E>> {
    let time_axis = if time_major { 0 } else { num_batch_dims };
    let shape = inputs.shape();
    let Some(&steps) = shape.get(time_axis) else {
        return Err(Error::invalid_argument(
            "flip_sequences",
            format!("inputs with a time axis {time_axis}"),
            nnx_core::repr::fmt_tuple_usize(shape),
        ));
    };
    let batch_axis = if time_major { 1 } else { 0 };
    let lengths: Vec<usize> = match seq_lengths {
        None => Vec::new(),
        Some(l) => {
            check_lengths(l, shape, num_batch_dims, batch_axis)?;
            l.to_vec()
        }
    };
    // Index of the element read for output step t of example b:
    // (steps - 1 - t + len_b) mod steps, with len_b = steps without lengths.
    let index = ndarray::ArrayD::from_shape_fn(shape, |ix| {
        let t = ix[time_axis];
        let len = lengths.get(ix[batch_axis]).copied().unwrap_or(steps);
        ((steps - 1 - t + len) % steps.max(1)) as i64
    });
    inputs.take_along_axis(&index, time_axis as isize)
}

/// `Err` unless there is one batch axis whose size is the number of lengths,
/// each at most the number of steps (Flax indexes the carries per example on
/// one batch axis).
fn check_lengths(
    lengths: &[usize],
    shape: &[usize],
    num_batch_dims: usize,
    batch_axis: usize,
) -> Result<()> {
    let steps_axis = 1 - batch_axis;
    let ok = num_batch_dims == 1
        && shape.get(batch_axis) == Some(&lengths.len())
        && lengths
            .iter()
            .all(|&l| l >= 1 && Some(&l) <= shape.get(steps_axis));
    if ok {
        return Ok(());
    }
    Err(Error::invalid_argument(
        "seq_lengths",
        "one length in [1, steps] per example of a single batch axis".to_string(),
        format!(
            "{lengths:?} for inputs of shape {}",
            nnx_core::repr::fmt_tuple_usize(shape)
        ),
    ))
}

/// Options of [`RNN`], with Flax's defaults; from [`RNN::config`].
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::{GRUCell, RNN};
/// let rnn = RNN::config(GRUCell::new(3, 4, &mut Rngs::new(0))?).time_major(true).reverse(true).build();
/// assert!(rnn.time_major && rnn.reverse && !rnn.keep_order);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RNNConfig<C> {
    cell: C,
    time_major: bool,
    reverse: bool,
    keep_order: bool,
    rngs: Option<RngStream>,
}

impl<C> RNNConfig<C> {
    /// Sets `time_major`: inputs `(time, *batch, features)` instead of
    /// `(*batch, time, features)` (default false).
    ///
    /// ```
    /// # use nnx_core::prelude::*;
    /// let rnn = nnx_layers::RNN::config(nnx_layers::GRUCell::new(3, 4, &mut Rngs::new(0))?).time_major(true).build();
    /// assert!(rnn.time_major);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn time_major(mut self, time_major: bool) -> Self {
        self.time_major = time_major;
        self
    }

    /// Sets `reverse`: scan from the last step to the first (default false).
    ///
    /// ```
    /// # use nnx_core::prelude::*;
    /// let rnn = nnx_layers::RNN::config(nnx_layers::GRUCell::new(3, 4, &mut Rngs::new(0))?).reverse(true).build();
    /// assert!(rnn.reverse);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn reverse(mut self, reverse: bool) -> Self {
        self.reverse = reverse;
        self
    }

    /// Sets `keep_order`: with `reverse`, give the outputs back in input order
    /// (default false).
    ///
    /// ```
    /// # use nnx_core::prelude::*;
    /// let rnn = nnx_layers::RNN::config(nnx_layers::GRUCell::new(3, 4, &mut Rngs::new(0))?).keep_order(true).build();
    /// assert!(rnn.keep_order);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn keep_order(mut self, keep_order: bool) -> Self {
        self.keep_order = keep_order;
        self
    }

    /// Sets the stream the initial carry's keys come from (Flax's `rngs`):
    /// default `RngStream::new("carry", 0)` (Flax's `rngs=True`); `None` (Flax's
    /// `rngs=False`) makes an initial carry mandatory; `rngs.stream("carry")?.fork()`
    /// is Flax's `rngs=Rngs(..)`.
    ///
    /// ```
    /// # use nnx_core::prelude::*;
    /// let rnn = nnx_layers::RNN::config(nnx_layers::GRUCell::new(3, 4, &mut Rngs::new(0))?).rngs(None).build();
    /// assert!(rnn.rngs.is_none());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn rngs(mut self, rngs: Option<RngStream>) -> Self {
        self.rngs = rngs;
        self
    }

    /// Creates the layer.
    ///
    /// ```
    /// # use nnx_core::prelude::*;
    /// let rnn = nnx_layers::RNN::config(nnx_layers::GRUCell::new(3, 4, &mut Rngs::new(0))?).build();
    /// assert_eq!(rnn.rngs.as_ref().map(|s| s.count()), Some(0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self) -> RNN<C> {
        RNN {
            cell: self.cell,
            rngs: self.rngs,
            time_major: self.time_major,
            reverse: self.reverse,
            keep_order: self.keep_order,
        }
    }
}

/// A recurrent cell scanned over the time axis (Flax's `nnx.RNN`). Paths are
/// Flax's: `cell/...` and the carry stream's `rngs/count`, `rngs/key`.
///
/// [`forward`](RNN::forward) returns the outputs; [`forward_with`](RNN::forward_with)
/// returns `(carry, outputs)` (Flax's `return_carry=True`) and takes Flax's call
/// arguments: an initial carry, per-example sequence lengths, and per-call
/// `time_major` / `reverse` / `keep_order`.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::{LSTMCell, RNN};
/// use nnx_tensor::Tensor;
/// let mut rnn = RNN::new(LSTMCell::new(3, 4, &mut Rngs::new(0))?);
/// let y = rnn.forward(&Tensor::ones(&[2, 5, 3]))?; // (batch, time, features)
/// assert_eq!(y.shape(), &[2, 5, 4]);
/// assert_eq!(rnn.rngs.as_ref().map(|s| s.count()), Some(2)); // c and h drew a key each
/// # Ok::<(), nnx_core::Error>(())
/// ```
///
/// Over an f64 cell (Flax's `param_dtype=dtype=jnp.float64`) it scans `Tensor<f64>`s:
///
/// ```
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::{CellConfig, GRUCell, RNN};
/// use nnx_tensor::Tensor;
/// let cell = CellConfig::<GRUCell<f64>, f64>::new(3, 4).build(&mut Rngs::new(0))?;
/// let mut rnn = RNN::new(cell);
/// let y = rnn.forward(&Tensor::<f64>::full(&[2, 5, 3], 1.0))?;
/// assert!(y.to_string().ends_with("dtype=float64)"));
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct RNN<C> {
    /// The cell.
    pub cell: C,
    /// Where the initial carry's keys come from; `None`: an initial carry must
    /// be given.
    pub rngs: Option<RngStream>,
    /// Inputs are `(time, *batch, features)`.
    pub time_major: bool,
    /// Scan from the last step to the first.
    pub reverse: bool,
    /// With `reverse`, outputs in input order.
    pub keep_order: bool,
}

/// Per-call arguments of [`RNN::forward_with`] (Flax's keyword arguments);
/// `Default` is "as configured".
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::{GRUCell, RNNOptions, RNN};
/// use nnx_tensor::Tensor;
/// let mut rnn = RNN::new(GRUCell::new(3, 4, &mut Rngs::new(0))?);
/// let opts = RNNOptions { seq_lengths: Some(&[5, 2]), reverse: Some(true), ..Default::default() };
/// let (carry, y) = rnn.forward_with(&Tensor::ones(&[2, 5, 3]), opts)?;
/// assert_eq!((carry.shape(), y.shape()), (&[2, 4][..], &[2, 5, 4][..]));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub struct RNNOptions<'a, K> {
    /// The carry to start from instead of the cell's `initialize_carry`.
    pub initial_carry: Option<K>,
    /// Each example's number of valid steps (one batch axis): the returned
    /// carry is the one after each example's last valid step, and `reverse`
    /// reverses only the valid steps.
    pub seq_lengths: Option<&'a [usize]>,
    /// Overrides the layer's `time_major`.
    pub time_major: Option<bool>,
    /// Overrides the layer's `reverse`.
    pub reverse: Option<bool>,
    /// Overrides the layer's `keep_order`.
    pub keep_order: Option<bool>,
    /// A stream to draw the initial carry's keys from instead of the layer's.
    pub rngs: Option<&'a mut RngStream>,
}

impl<K> Default for RNNOptions<'_, K> {
    fn default() -> Self {
        RNNOptions {
            initial_carry: None,
            seq_lengths: None,
            time_major: None,
            reverse: None,
            keep_order: None,
            rngs: None,
        }
    }
}

impl<C> RNN<C> {
    /// A layer with Flax's defaults (batch-major, forward order, carry stream
    /// `RngStream::new("carry", 0)`).
    ///
    /// ```
    /// # use nnx_core::prelude::*;
    /// let rnn = nnx_layers::RNN::new(nnx_layers::SimpleCell::new(3, 4, &mut Rngs::new(0))?);
    /// assert!(!rnn.time_major);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(cell: C) -> RNN<C> {
        RNN::config(cell).build()
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// # use nnx_core::prelude::*;
    /// let rnn = nnx_layers::RNN::config(nnx_layers::SimpleCell::new(3, 4, &mut Rngs::new(0))?).build();
    /// assert!(!rnn.reverse);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(cell: C) -> RNNConfig<C> {
        RNNConfig {
            cell,
            time_major: false,
            reverse: false,
            keep_order: false,
            rngs: Some(RngStream::new("carry", 0)),
        }
    }
}

/// Which cell entry point a scan calls.
enum Cell<'c, C> {
    Mut(&'c mut C),
    Shared(&'c C),
}

impl<C> Cell<'_, C> {
    fn get(&self) -> &C {
        match self {
            Cell::Mut(c) => c,
            Cell::Shared(c) => c,
        }
    }

    fn step<E: Element>(&mut self, carry: &C::Carry, x: &Tensor<E>) -> Result<(C::Carry, Tensor<E>)>
    where
        C: RNNCellBase<E>,
    {
        match self {
            Cell::Mut(c) => c.forward(carry, x),
            Cell::Shared(c) => c.apply(carry, x),
        }
    }
}

impl<C> RNN<C> {
    /// The outputs of the cell scanned over `inputs` (Flax's `rnn(x)`): for
    /// batch-major `(*batch, time, features)` inputs, `(*batch, time, hidden)`.
    /// Draws the initial carry's keys from the layer's stream.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_tensor::Tensor;
    /// let mut rnn = nnx_layers::RNN::new(nnx_layers::GRUCell::new(3, 4, &mut Rngs::new(0))?);
    /// assert_eq!(rnn.forward(&Tensor::ones(&[7, 3]))?.shape(), &[7, 4]); // no batch axis
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<E: Element>(&mut self, inputs: &Tensor<E>) -> Result<Tensor<E>>
    where
        C: RNNCellBase<E>,
    {
        self.forward_with(inputs, RNNOptions::default())
            .map(|(_, y)| y)
    }

    /// [`forward`](RNN::forward) from a shared reference: the same outputs,
    /// with the initial carry's keys drawn from a copy of the stream, whose
    /// counter therefore does not advance.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_tensor::Tensor;
    /// let mut rnn = nnx_layers::RNN::new(nnx_layers::SimpleCell::new(3, 4, &mut Rngs::new(0))?);
    /// let x = Tensor::ones(&[2, 5, 3]);
    /// assert_eq!(rnn.apply(&x)?, rnn.forward(&x)?);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply<E: Element>(&self, inputs: &Tensor<E>) -> Result<Tensor<E>>
    where
        C: RNNCellBase<E>,
    {
        self.apply_with(inputs, RNNOptions::default())
            .map(|(_, y)| y)
    }

    /// `(carry, outputs)` with Flax's call arguments (see [`RNNOptions`]).
    ///
    /// # Errors
    /// Inputs without a time axis, lengths that do not fit the batch, no
    /// initial carry and no stream, and the cell's errors.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{RNNOptions, SimpleCell, RNN};
    /// use nnx_tensor::Tensor;
    /// let mut rnn = RNN::config(SimpleCell::new(3, 4, &mut Rngs::new(0))?).rngs(None).build();
    /// assert!(rnn.forward(&Tensor::ones(&[2, 5, 3])).is_err()); // nothing to draw the carry from
    /// let opts = RNNOptions { initial_carry: Some(Tensor::zeros(&[2, 4])), ..Default::default() };
    /// let (carry, _) = rnn.forward_with(&Tensor::ones(&[2, 5, 3]), opts)?;
    /// assert_eq!(carry.shape(), &[2, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward_with<E: Element>(
        &mut self,
        inputs: &Tensor<E>,
        mut opts: RNNOptions<'_, C::Carry>,
    ) -> Result<(C::Carry, Tensor<E>)>
    where
        C: RNNCellBase<E>,
    {
        let flags = self.flags(&opts);
        let rngs = match opts.rngs.take() {
            Some(r) => Some(r),
            None => self.rngs.as_mut(),
        };
        let out = scan(Cell::Mut(&mut self.cell), inputs, opts, flags, rngs);
        recorded_output(self, inputs, out)
    }

    /// [`forward_with`](RNN::forward_with) from a shared reference (the layer's
    /// stream is copied, see [`apply`](RNN::apply)).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{GRUCell, RNNOptions, RNN};
    /// use nnx_tensor::Tensor;
    /// let rnn = RNN::new(GRUCell::new(3, 4, &mut Rngs::new(0))?);
    /// let (carry, y) = rnn.apply_with(&Tensor::ones(&[5, 2, 3]), RNNOptions { time_major: Some(true), ..Default::default() })?;
    /// assert_eq!((carry.shape(), y.shape()), (&[2, 4][..], &[5, 2, 4][..]));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply_with<E: Element>(
        &self,
        inputs: &Tensor<E>,
        mut opts: RNNOptions<'_, C::Carry>,
    ) -> Result<(C::Carry, Tensor<E>)>
    where
        C: RNNCellBase<E>,
    {
        let flags = self.flags(&opts);
        let mut copy = self.rngs.clone();
        let rngs = match opts.rngs.take() {
            Some(r) => Some(r),
            None => copy.as_mut(),
        };
        let out = scan(Cell::Shared(&self.cell), inputs, opts, flags, rngs);
        recorded_output(self, inputs, out)
    }

    fn flags<K>(&self, opts: &RNNOptions<'_, K>) -> Flags {
        Flags {
            time_major: opts.time_major.unwrap_or(self.time_major),
            reverse: opts.reverse.unwrap_or(self.reverse),
            keep_order: opts.keep_order.unwrap_or(self.keep_order),
        }
    }
}

#[derive(Clone, Copy)]
struct Flags {
    time_major: bool,
    reverse: bool,
    keep_order: bool,
}

/// The scan: flip if reversed, initialize the carry, step through time,
/// stack the outputs, pick each example's carry at its length.
fn scan<C: RNNCellBase<E>, E: Element>(
    mut cell: Cell<'_, C>,
    inputs: &Tensor<E>,
    opts: RNNOptions<'_, C::Carry>,
    flags: Flags,
    rngs: Option<&mut RngStream>,
) -> Result<(C::Carry, Tensor<E>)> {
    let nf = cell.get().num_feature_axes();
    let ndim = inputs.ndim();
    if ndim < nf + 1 {
        return Err(Error::invalid_argument(
            "RNN inputs",
            format!("a time axis and {nf} feature axes"),
            nnx_core::repr::fmt_tuple_usize(inputs.shape()),
        ));
    }
    let time_axis = if flags.time_major { 0 } else { ndim - nf - 1 };
    let num_batch = ndim - nf - 1;
    let lengths = opts.seq_lengths;
    let x = if flags.reverse {
        flip_sequences(inputs, lengths, num_batch, flags.time_major)?
    } else {
        inputs.clone()
    };
    if let Some(l) = lengths {
        check_lengths(l, x.shape(), num_batch, usize::from(flags.time_major))?;
    }
    let mut step_shape = x.shape().to_vec();
    let steps = step_shape.remove(time_axis);
    let mut carry = match (opts.initial_carry, rngs) {
        (Some(c), _) => c,
        (None, Some(r)) => cell.get().initialize_carry(&step_shape, r)?,
        (None, None) => {
            return Err(Error::invalid_argument(
                "RNN",
                "an initial carry or an RngStream to initialize it",
                "neither (rngs is None)",
            ))
        }
    };
    let mut outputs = Vec::with_capacity(steps);
    let mut carries = Vec::new();
    for t in 0..steps {
        let xt = x
            .slice(time_axis as isize, t..t + 1)?
            .reshape(&step_shape)?;
        let (next, y) = cell.step(&carry, &xt)?;
        carry = next;
        let mut shape = y.shape().to_vec();
        shape.insert(time_axis, 1);
        outputs.push(y.reshape(&shape)?);
        if lengths.is_some() {
            carries.push(carry.clone());
        }
    }
    let mut y = concat(&outputs, time_axis as isize)?;
    if let Some(l) = lengths {
        carry = last_carry(&carries, l)?;
    }
    if flags.reverse && flags.keep_order {
        y = flip_sequences(&y, lengths, num_batch, flags.time_major)?;
    }
    Ok((carry, y))
}

/// Each example's carry after its last valid step (one batch axis, the
/// first axis of the carry's arrays).
fn last_carry<K: Carry<E>, E: Element>(carries: &[K], lengths: &[usize]) -> Result<K> {
    let Some(first) = carries.first() else {
        return Err(Error::invalid_argument("RNN", "at least one step", "none"));
    };
    let leaves = (0..first.leaves().len())
        .map(|j| {
            let rows = lengths
                .iter()
                .enumerate()
                .map(|(b, &len)| {
                    let step = carries.get(len - 1).ok_or_else(|| {
                        Error::invalid_argument("seq_lengths", "lengths <= steps", len.to_string())
                    })?;
                    step.leaves()[j].slice(0, b..b + 1)
                })
                .collect::<Result<Vec<Tensor<E>>>>()?;
            concat(&rows, 0)
        })
        .collect::<Result<Vec<Tensor<E>>>>()?;
    K::from_leaves(leaves)
}

/// The carry of a [`Bidirectional`]: the forward RNN's, then the backward one's.
///
/// ```
/// use nnx_layers::{BiCarry, GRUCell, LSTMCell};
/// use nnx_tensor::Tensor;
/// let c: BiCarry<LSTMCell, GRUCell> = ((Tensor::zeros(&[4]), Tensor::zeros(&[4])), Tensor::zeros(&[2]));
/// assert_eq!(c.1.shape(), &[2]);
/// ```
pub type BiCarry<F, B, E = f32> = (<F as RNNCellBase<E>>::Carry, <B as RNNCellBase<E>>::Carry);

/// The default merge of [`Bidirectional`]: concatenation on the last axis.
fn concatenate<E: Element>(a: &Tensor<E>, b: &Tensor<E>) -> Result<Tensor<E>> {
    concat(&[a, b], -1)
}

/// Two RNNs over the same inputs, one forward and one backward (its outputs
/// given back in input order), merged by `merge_fn` (Flax's
/// `nnx.Bidirectional`; default: concatenation on the last axis). Both draw
/// their initial carries from this layer's stream `rngs`, as in Flax.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::{Bidirectional, GRUCell, LSTMCell, RNN};
/// use nnx_tensor::Tensor;
/// let fwd = RNN::new(LSTMCell::new(3, 4, &mut Rngs::new(0))?);
/// let bwd = RNN::new(GRUCell::new(3, 2, &mut Rngs::new(1))?);
/// let mut bi = Bidirectional::new(fwd, bwd);
/// assert_eq!(bi.forward(&Tensor::ones(&[2, 5, 3]))?.shape(), &[2, 5, 6]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
///
/// `Bidirectional<F, B, f64>` over two f64 RNNs:
///
/// ```
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::{Bidirectional, CellConfig, LSTMCell, RNN};
/// use nnx_tensor::Tensor;
/// let cell = || CellConfig::<LSTMCell<f64>, f64>::new(3, 4).build(&mut Rngs::new(0));
/// let mut bi = Bidirectional::new(RNN::new(cell()?), RNN::new(cell()?));
/// assert_eq!(bi.forward(&Tensor::<f64>::full(&[2, 5, 3], 1.0))?.shape(), &[2, 5, 8]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct Bidirectional<F, B, E: Element = f32> {
    /// The forward-order RNN.
    pub forward_rnn: RNN<F>,
    /// The reverse-order RNN.
    pub backward_rnn: RNN<B>,
    /// Where both initial carries' keys come from.
    pub rngs: Option<RngStream>,
    /// Inputs are `(time, *batch, features)`.
    pub time_major: bool,
    /// Merges the two outputs (default: concatenation on the last axis).
    #[nnx(static)]
    pub merge_fn: MergeFn<E>,
}

/// A merge function of [`Bidirectional`] (Flax's `merge_fn`): any function of
/// the forward and backward outputs; a static hyperparameter.
///
/// ```
/// use nnx_layers::MergeFn;
/// use nnx_tensor::Tensor;
/// let add: MergeFn = |a, b| a + b;
/// assert_eq!(add(&Tensor::ones(&[1]), &Tensor::ones(&[1]))?, Tensor::from_shape_vec(&[1], vec![2.0])?);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub type MergeFn<E = f32> = fn(&Tensor<E>, &Tensor<E>) -> Result<Tensor<E>>;

impl<F: RNNCellBase<E>, B: RNNCellBase<E>, E: Element> Bidirectional<F, B, E> {
    /// Both RNNs, merged by concatenation, batch-major, carry stream
    /// `RngStream::new("carry", 0)` (Flax's defaults).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{Bidirectional, SimpleCell, RNN};
    /// let bi = Bidirectional::new(RNN::new(SimpleCell::new(3, 4, &mut Rngs::new(0))?), RNN::new(SimpleCell::new(3, 4, &mut Rngs::new(1))?));
    /// assert_eq!(bi.state().len(), 12); // 3 Params and a stream in each RNN, and a stream
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(forward_rnn: RNN<F>, backward_rnn: RNN<B>) -> Self {
        Bidirectional {
            forward_rnn,
            backward_rnn,
            rngs: Some(RngStream::new("carry", 0)),
            time_major: false,
            merge_fn: concatenate,
        }
    }

    /// The merged outputs (Flax's `bi(x)`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{Bidirectional, SimpleCell, RNN};
    /// use nnx_tensor::Tensor;
    /// let mut bi = Bidirectional::new(RNN::new(SimpleCell::new(3, 4, &mut Rngs::new(0))?), RNN::new(SimpleCell::new(3, 4, &mut Rngs::new(1))?));
    /// bi.merge_fn = |a, b| a + b;
    /// assert_eq!(bi.forward(&Tensor::ones(&[2, 5, 3]))?.shape(), &[2, 5, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward(&mut self, inputs: &Tensor<E>) -> Result<Tensor<E>> {
        self.forward_with(inputs, None, None).map(|(_, y)| y)
    }

    /// `((forward carry, backward carry), merged outputs)` (Flax's
    /// `return_carry=True`), with optional initial carries and per-example
    /// sequence lengths.
    ///
    /// # Errors
    /// As [`RNN::forward_with`].
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{Bidirectional, GRUCell, RNN};
    /// use nnx_tensor::Tensor;
    /// let mut bi = Bidirectional::new(RNN::new(GRUCell::new(3, 4, &mut Rngs::new(0))?), RNN::new(GRUCell::new(3, 4, &mut Rngs::new(1))?));
    /// let ((cf, cb), y) = bi.forward_with(&Tensor::ones(&[2, 5, 3]), None, Some(&[5, 3]))?;
    /// assert_eq!((cf.shape(), cb.shape(), y.shape()), (&[2, 4][..], &[2, 4][..], &[2, 5, 8][..]));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward_with(
        &mut self,
        inputs: &Tensor<E>,
        initial_carry: Option<BiCarry<F, B, E>>,
        seq_lengths: Option<&[usize]>,
    ) -> Result<(BiCarry<F, B, E>, Tensor<E>)> {
        let (init_f, init_b) = split_carry(initial_carry);
        let tm = self.time_major;
        let (cf, yf) = self.forward_rnn.forward_with(
            inputs,
            direction(init_f, seq_lengths, tm, false, self.rngs.as_mut()),
        )?;
        let (cb, yb) = self.backward_rnn.forward_with(
            inputs,
            direction(init_b, seq_lengths, tm, true, self.rngs.as_mut()),
        )?;
        recorded_output(self, inputs, Ok(((cf, cb), (self.merge_fn)(&yf, &yb)?)))
    }

    /// [`forward`](Bidirectional::forward) from a shared reference (the stream
    /// is copied, as in [`RNN::apply`]).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{Bidirectional, SimpleCell, RNN};
    /// use nnx_tensor::Tensor;
    /// let mut bi = Bidirectional::new(RNN::new(SimpleCell::new(3, 4, &mut Rngs::new(0))?), RNN::new(SimpleCell::new(3, 4, &mut Rngs::new(1))?));
    /// let x = Tensor::ones(&[2, 5, 3]);
    /// assert_eq!(bi.apply(&x)?, bi.forward(&x)?);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, inputs: &Tensor<E>) -> Result<Tensor<E>> {
        self.apply_with(inputs, None, None).map(|(_, y)| y)
    }

    /// [`forward_with`](Bidirectional::forward_with) from a shared reference.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{Bidirectional, GRUCell, RNN};
    /// use nnx_tensor::Tensor;
    /// let bi = Bidirectional::new(RNN::new(GRUCell::new(3, 4, &mut Rngs::new(0))?), RNN::new(GRUCell::new(3, 4, &mut Rngs::new(1))?));
    /// let init = (Tensor::zeros(&[2, 4]), Tensor::zeros(&[2, 4]));
    /// let (_, y) = bi.apply_with(&Tensor::ones(&[2, 5, 3]), Some(init), None)?;
    /// assert_eq!(y.shape(), &[2, 5, 8]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply_with(
        &self,
        inputs: &Tensor<E>,
        initial_carry: Option<BiCarry<F, B, E>>,
        seq_lengths: Option<&[usize]>,
    ) -> Result<(BiCarry<F, B, E>, Tensor<E>)> {
        let (init_f, init_b) = split_carry(initial_carry);
        let tm = self.time_major;
        let mut rngs = self.rngs.clone();
        let (cf, yf) = self.forward_rnn.apply_with(
            inputs,
            direction(init_f, seq_lengths, tm, false, rngs.as_mut()),
        )?;
        let (cb, yb) = self.backward_rnn.apply_with(
            inputs,
            direction(init_b, seq_lengths, tm, true, rngs.as_mut()),
        )?;
        recorded_output(self, inputs, Ok(((cf, cb), (self.merge_fn)(&yf, &yb)?)))
    }
}

fn split_carry<F, B>(carry: Option<(F, B)>) -> (Option<F>, Option<B>) {
    match carry {
        Some((f, b)) => (Some(f), Some(b)),
        None => (None, None),
    }
}

/// The call of one direction of a [`Bidirectional`]: the backward RNN runs
/// reversed and gives its outputs back in input order.
fn direction<'a, K>(
    initial_carry: Option<K>,
    seq_lengths: Option<&'a [usize]>,
    time_major: bool,
    backward: bool,
    rngs: Option<&'a mut RngStream>,
) -> RNNOptions<'a, K> {
    RNNOptions {
        initial_carry,
        seq_lengths,
        time_major: Some(time_major),
        reverse: Some(backward),
        keep_order: backward.then_some(true),
        rngs,
    }
}

/// Records `layer`'s call with its output sequence (Flax's RNN returns the
/// carry only when asked to), passing `out` through.
fn recorded_output<M, C, E: Element>(
    layer: &M,
    inputs: &Tensor<E>,
    out: Result<(C, Tensor<E>)>,
) -> Result<(C, Tensor<E>)> {
    if let Ok((_, y)) = &out {
        nnx_core::record::call(layer, inputs, y);
    }
    out
}
