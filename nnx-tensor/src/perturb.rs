//! `perturb`: gradients with respect to intermediate values (Flax 0.12's
//! `Module.perturb`).

use nnx_core::sow::SowStore;
use nnx_core::{Error, Kind, Perturbation, Result};

use crate::element::Element;
use crate::Tensor;

/// Flax's `Module.perturb`: adds a zero-valued Variable to an intermediate value
/// so that its gradient is the gradient with respect to that value. Implemented
/// for every module with a sow store ([`SowStore`], a `#[nnx(sow)]` field).
///
/// The first call stores zeros of `value`'s shape as a
/// [`Perturbation`](struct@nnx_core::Perturbation) Variable named `name` in the module's
/// sow store (at the module's own path, as Flax stores it); every call returns
/// `perturbation + value`. Because the perturbation is a Variable of the model,
/// `value_and_grad(&mut model, Perturbation, f)` (or `[Param, Perturbation]`)
/// returns the gradients with respect to the intermediates at the perturbations'
/// paths. Run the model once before, so that the perturbations exist when
/// `value_and_grad` marks the Variables it differentiates (Flax's step 1,
/// `nnx.capture(model, nnx.Perturbation)`); [`capture`](nnx_core::sow::capture)
/// with `&[Intermediate]` leaves them in place.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_tensor::{value_and_grad, Perturb, Tensor};
///
/// #[derive(Module)]
/// struct Model {
///     #[nnx(sow)]
///     sown: Sown,
/// }
/// impl Model {
///     fn forward(&mut self, x: &Tensor) -> nnx_core::Result<Tensor> {
///         let x2 = self.perturb("grad_of_x", x)?;
///         Ok(&x2 * 3.0)
///     }
/// }
///
/// let mut model = Model { sown: Sown::default() };
/// let x = Tensor::from(ndarray::arr1(&[1.0f32, 2.0]));
/// model.forward(&x)?; // creates the zero perturbation
/// let (loss, grads) = value_and_grad(&mut model, Perturbation, |m| Ok(m.forward(&x)?.sum()))?;
/// assert_eq!(loss, 9.0);
/// let g = grads.leaf(&[Key::from("grad_of_x")]).unwrap();
/// assert_eq!(g.value.as_any().downcast_ref::<Tensor>(), Some(&Tensor::from(ndarray::arr1(&[3.0f32, 3.0]))));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub trait Perturb: SowStore {
    /// `perturbation + value` with a [`Perturbation`](struct@nnx_core::Perturbation)
    /// Variable named `name`, created as zeros on first use.
    ///
    /// Errors: `name` is a field of the module, or already holds a Variable of
    /// another type, value type or shape.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_tensor::{Perturb, Tensor};
    /// #[derive(Module)]
    /// struct M {
    ///     #[nnx(sow)]
    ///     sown: Sown,
    /// }
    /// let mut m = M { sown: Sown::default() };
    /// let y = m.perturb("h", &Tensor::ones(&[2]))?;
    /// assert_eq!(y, Tensor::ones(&[2]));
    /// assert_eq!(m.state_of(Perturbation).len(), 1);
    /// assert!(m.perturb("h", &Tensor::ones(&[3])).is_err()); // another shape
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn perturb<E: Element>(&mut self, name: &str, value: &Tensor<E>) -> Result<Tensor<E>>
    where
        Self: Sized,
    {
        self.perturb_as(Perturbation, name, value)
    }

    /// [`perturb`](Perturb::perturb) with another Variable type (Flax's
    /// `variable_type` argument), e.g. a subtype of `Perturbation`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_tensor::{Perturb, Tensor};
    /// nnx_core::variable_type!(Probe: nnx_core::Perturbation);
    /// #[derive(Module)]
    /// struct M {
    ///     #[nnx(sow)]
    ///     sown: Sown,
    /// }
    /// let mut m = M { sown: Sown::default() };
    /// m.perturb_as(Probe, "h", &Tensor::ones(&[2]))?;
    /// assert_eq!(m.state_of(Probe).len(), 1);
    /// assert!(m.perturb("h", &Tensor::ones(&[2])).is_err()); // 'h' is a Probe
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn perturb_as<E: Element>(
        &mut self,
        kind: Kind,
        name: &str,
        value: &Tensor<E>,
    ) -> Result<Tensor<E>>
    where
        Self: Sized,
    {
        let reserved = Self::field_names();
        let store = self.sown();
        // Creates the zeros on first use and keeps the stored value otherwise.
        store.sow_with(
            kind,
            name,
            (),
            || Tensor::full(value.shape(), E::zero()),
            |stored, ()| stored,
            reserved,
        )?;
        let stored = store.value::<Tensor<E>>(name)?;
        if stored.shape() != value.shape() {
            return Err(Error::ShapeMismatch {
                path: nnx_core::ErrorPath(name.to_string()),
                expected: nnx_core::repr::fmt_tuple_usize(stored.shape()),
                found: nnx_core::repr::fmt_tuple_usize(value.shape()),
            });
        }
        stored + value
    }
}

impl<M: SowStore> Perturb for M {}
