//! Recurrent networks (Flax's `flax.nnx.nn.recurrent`): the cells
//! [`SimpleCell`], [`LSTMCell`], [`OptimizedLSTMCell`] and [`GRUCell`], the
//! [`RNNCellBase`] trait they implement, [`RNN`] to scan a cell over a sequence
//! and [`Bidirectional`].

mod cells;
mod rnn;

use nnx_core::init::{zeros, Init};
use nnx_core::rngs::RngStream;
use nnx_core::{Error, Result};
use nnx_tensor::{Element, Tensor};

pub use cells::{ActivationFn, CellConfig, GRUCell, LSTMCell, OptimizedLSTMCell, SimpleCell};
pub use rnn::{flip_sequences, BiCarry, Bidirectional, MergeFn, RNNConfig, RNNOptions, RNN};

/// A recurrent cell: one step `(carry, x) -> (new_carry, y)` (Flax's
/// `RNNCellBase`). [`RNN`] scans any implementor over time. `RNNCellBase` is
/// `RNNCellBase<f32>`; the library's cells of element type `E` implement
/// `RNNCellBase<E>` (built with [`CellConfig::new`]).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::{GRUCell, RNNCellBase};
/// use nnx_tensor::Tensor;
/// let cell = GRUCell::new(3, 4, &mut Rngs::new(0))?;
/// let carry = cell.initialize_carry(&[2, 3], &mut RngStream::new("carry", 0))?;
/// let (carry, y) = RNNCellBase::apply(&cell, &carry, &Tensor::ones(&[2, 3]))?;
/// assert_eq!((carry.shape(), y.shape()), (&[2, 4][..], &[2, 4][..]));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub trait RNNCellBase<E: Element = f32> {
    /// The state carried between steps: a `Tensor` (`SimpleCell`, `GRUCell`) or
    /// a `(c, h)` pair (the LSTM cells).
    type Carry: Carry<E>;

    /// One step from a shared reference (nothing of the cell changes).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{RNNCellBase, SimpleCell};
    /// use nnx_tensor::Tensor;
    /// let cell = SimpleCell::new(3, 4, &mut Rngs::new(0))?;
    /// let (h, y) = RNNCellBase::apply(&cell, &Tensor::zeros(&[4]), &Tensor::ones(&[3]))?;
    /// assert_eq!(h, y);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn apply(&self, carry: &Self::Carry, x: &Tensor<E>) -> Result<(Self::Carry, Tensor<E>)>;

    /// One step (Flax's `cell(carry, x)`); cells with state to update (a
    /// user's cell with dropout, say) override it.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{RNNCellBase, SimpleCell};
    /// use nnx_tensor::Tensor;
    /// let mut cell = SimpleCell::new(3, 4, &mut Rngs::new(0))?;
    /// let (h, _) = RNNCellBase::forward(&mut cell, &Tensor::zeros(&[4]), &Tensor::ones(&[3]))?;
    /// assert_eq!(h.shape(), &[4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn forward(&mut self, carry: &Self::Carry, x: &Tensor<E>) -> Result<(Self::Carry, Tensor<E>)> {
        self.apply(carry, x)
    }

    /// A carry for inputs of shape `input_shape` (`(*batch, in_features)`),
    /// each array drawn by `init` with the next key of `rngs` (Flax's
    /// `initialize_carry(input_shape, rngs, carry_init)`).
    ///
    /// ```
    /// use nnx_core::{init, prelude::*};
    /// use nnx_layers::{LSTMCell, RNNCellBase};
    /// let cell = LSTMCell::new(3, 4, &mut Rngs::new(0))?;
    /// let mut stream = RngStream::new("carry", 0);
    /// let (c, h) = cell.initialize_carry_with(&[2, 3], &mut stream, &init::ones())?;
    /// assert_eq!((c.shape(), h.array().sum(), stream.count()), (&[2, 4][..], 8.0, 2));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn initialize_carry_with(
        &self,
        input_shape: &[usize],
        rngs: &mut RngStream,
        init: &Init<E>,
    ) -> Result<Self::Carry>;

    /// [`initialize_carry_with`](RNNCellBase::initialize_carry_with) zeros (Flax's
    /// default); keys are still drawn, as Flax draws them.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{GRUCell, RNNCellBase};
    /// use nnx_tensor::Tensor;
    /// let cell = GRUCell::new(3, 4, &mut Rngs::new(0))?;
    /// let mut stream = RngStream::new("carry", 0);
    /// assert_eq!(cell.initialize_carry(&[5, 3], &mut stream)?, Tensor::zeros(&[5, 4]));
    /// assert_eq!(stream.count(), 1);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn initialize_carry(&self, input_shape: &[usize], rngs: &mut RngStream) -> Result<Self::Carry> {
        self.initialize_carry_with(input_shape, rngs, &zeros())
    }

    /// The number of feature axes of an input (Flax's `num_feature_axes`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{RNNCellBase, SimpleCell};
    /// assert_eq!(SimpleCell::new(3, 4, &mut Rngs::new(0))?.num_feature_axes(), 1);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn num_feature_axes(&self) -> usize {
        1
    }
}

/// What a cell carries: its arrays, in order, so that [`RNN`] can pick each
/// example's carry at its sequence length.
///
/// ```
/// use nnx_layers::Carry;
/// use nnx_tensor::Tensor;
/// let pair = (Tensor::zeros(&[2]), Tensor::ones(&[2]));
/// let leaves = pair.leaves();
/// assert_eq!(leaves.len(), 2);
/// let back = <(Tensor, Tensor)>::from_leaves(leaves.into_iter().cloned().collect())?;
/// assert_eq!(back, pair);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub trait Carry<E: Element = f32>: Clone + nnx_core::record::Describe {
    /// The arrays, in order.
    ///
    /// ```
    /// use nnx_layers::Carry;
    /// assert_eq!(nnx_tensor::Tensor::ones(&[3]).leaves().len(), 1);
    /// ```
    fn leaves(&self) -> Vec<&Tensor<E>>;
    /// The carry from its arrays; `Err` for another count.
    ///
    /// ```
    /// use nnx_layers::Carry;
    /// use nnx_tensor::Tensor;
    /// assert!(<Tensor as Carry>::from_leaves(vec![]).is_err());
    /// ```
    fn from_leaves(leaves: Vec<Tensor<E>>) -> Result<Self>;
}

fn leaf_count_error(expected: usize, found: usize) -> Error {
    Error::invalid_argument(
        "carry",
        format!("{expected} arrays"),
        format!("{found} arrays"),
    )
}

impl<E: Element> Carry<E> for Tensor<E> {
    fn leaves(&self) -> Vec<&Tensor<E>> {
        vec![self]
    }
    fn from_leaves(leaves: Vec<Tensor<E>>) -> Result<Self> {
        let n = leaves.len();
        let mut it = leaves.into_iter();
        match (it.next(), it.next()) {
            (Some(t), None) => Ok(t),
            _ => Err(leaf_count_error(1, n)),
        }
    }
}

impl<E: Element> Carry<E> for (Tensor<E>, Tensor<E>) {
    fn leaves(&self) -> Vec<&Tensor<E>> {
        vec![&self.0, &self.1]
    }
    fn from_leaves(leaves: Vec<Tensor<E>>) -> Result<Self> {
        let n = leaves.len();
        let mut it = leaves.into_iter();
        match (it.next(), it.next(), it.next()) {
            (Some(a), Some(b), None) => Ok((a, b)),
            _ => Err(leaf_count_error(2, n)),
        }
    }
}
