//! Parameters of a fixed rank, built from rank-erased initializer output.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use nnx_core::init::{lecun_normal, zeros, ParamInit};
use nnx_core::random::PrngKey;
use nnx_core::rngs::Rngs;
use nnx_core::{AxisHook, Hooks, ValueHook};
use nnx_core::{Error, Param, Result, Variable, VariableMetadata, VariableType};
use nnx_tensor::{Element, Tensor};

use crate::functional::{fmt_tuple_usize, shape_err};
use crate::support::check_alloc;

/// The kernel and bias options of the dense and convolution layers, with
/// Flax's defaults (a bias, `lecun_normal` kernel, zero bias).
#[derive(Debug, Clone)]
pub(crate) struct KernelBias<E: Element = f32> {
    pub(crate) use_bias: bool,
    pub(crate) kernel_init: ParamInit<E>,
    pub(crate) bias_init: ParamInit<E>,
}

impl<E: Element> Default for KernelBias<E> {
    fn default() -> Self {
        KernelBias {
            use_bias: true,
            kernel_init: lecun_normal().into(),
            bias_init: zeros().into(),
        }
    }
}

impl<E: Element> KernelBias<E> {
    /// The bias initializer, when there is a bias.
    pub(crate) fn bias(&self) -> Option<&ParamInit<E>> {
        self.use_bias.then_some(&self.bias_init)
    }
}

/// `init.init(key, shape)` after checking that `shape` can be allocated at
/// all (layer configs size their parameters, and a user may ask for anything).
pub(crate) fn checked_init<E: Element>(
    init: &ParamInit<E>,
    key: PrngKey,
    shape: &[usize],
) -> Result<VariableMetadata<ArrayD<E>>> {
    let n = check_alloc("parameter shape", shape, std::mem::size_of::<E>())?;
    // The initializers (nnx-core) allocate infallibly; asking the allocator
    // first turns a size it can never serve into an error instead of an abort.
    // Building a layer is not a hot path: the probe costs one malloc/free.
    Vec::<E>::new().try_reserve_exact(n).map_err(|_| {
        Error::invalid_argument(
            "parameter shape",
            "a shape that fits in memory",
            fmt_tuple_usize(shape),
        )
    })?;
    init.init(key, shape)
}

/// Flax's `LinearGeneral` init: sampled with the flattened shape `flat` (so
/// the fans are those of a matrix), then reshaped to `shape`.
pub(crate) fn flat_tensor_param<E: Element>(
    init: &ParamInit<E>,
    key: PrngKey,
    flat: &[usize],
    shape: &[usize],
) -> Result<Param<Tensor<E>>> {
    let mut meta = checked_init(init, key, flat)?;
    let raw = std::mem::take(&mut meta.raw_value);
    meta.raw_value = raw
        .into_shape_with_order(IxDyn(shape))
        .map_err(|_| shape_err("initializer output", fmt_tuple_usize(shape), flat))?;
    from_init(meta, shape)
}

/// A value an initializer's `ArrayD` output converts to (a [`Tensor`]; the
/// trait keeps the hook adapters independent of it).
pub(crate) trait FromInit<E>: Sized + Clone + nnx_core::value::Value + 'static {
    /// `a` as this type, `None` when its rank does not fit.
    fn from_dyn(a: ArrayD<E>) -> Option<Self>;
    /// A rank-erased copy, for hooks written against `ArrayD`.
    fn to_dyn(&self) -> ArrayD<E>;
}

impl<E: Element> FromInit<E> for Tensor<E> {
    fn from_dyn(a: ArrayD<E>) -> Option<Self> {
        Some(Tensor::from_array(a))
    }
    fn to_dyn(&self) -> ArrayD<E> {
        self.to_array()
    }
}

/// An initializer's output as a parameter of value type `T`. Initializers
/// work on `ArrayD`; the hooks they attach are adapted to `T` (they see a
/// rank-erased copy of the Variable).
fn from_init<E: Element, T: FromInit<E>>(
    meta: VariableMetadata<ArrayD<E>>,
    shape: &[usize],
) -> Result<Param<T>> {
    if meta.raw_value.shape() != shape {
        return Err(Error::ShapeMismatch {
            path: nnx_core::ErrorPath("initializer output".into()),
            expected: nnx_core::repr::fmt_tuple_usize(shape),
            found: nnx_core::repr::fmt_tuple_usize(meta.raw_value.shape()),
        });
    }
    let raw = T::from_dyn(meta.raw_value).ok_or_else(|| {
        Error::invalid_argument(
            "initializer output",
            "a value of the parameter's rank",
            format!("rank {}", shape.len()),
        )
    })?;
    let mut out = VariableMetadata::new(raw);
    out.metadata = meta.metadata;
    if !meta.hooks.is_empty() {
        out.hooks = adapt_hooks(meta.hooks);
    }
    Ok(Param::from_metadata(out))
}

/// `Param::from_metadata(init.init(key, shape)?)` holding a [`Tensor`]: the
/// value layers differentiate.
pub(crate) fn tensor_param<E: Element>(
    init: &ParamInit<E>,
    key: PrngKey,
    shape: &[usize],
) -> Result<Param<Tensor<E>>> {
    from_init(checked_init(init, key, shape)?, shape)
}

/// [`opt_param`] holding a [`Tensor`].
pub(crate) fn opt_tensor_param<E: Element>(
    rngs: &mut Rngs,
    init: Option<&ParamInit<E>>,
    shape: &[usize],
) -> Result<Option<Param<Tensor<E>>>> {
    match init {
        Some(init) => Ok(Some(tensor_param(init, rngs.next_key("params")?, shape)?)),
        None => Ok(None),
    }
}

/// A rank-erased copy of `var` (kind, value and metadata) for a hook to look at.
fn erased<E: Element, T: FromInit<E>>(var: &Variable<T>) -> Variable<ArrayD<E>> {
    let mut proxy = Variable::with_kind(var.kind(), var.value().to_dyn());
    proxy.replace_metadata(var.get_metadata());
    proxy
}

fn adapt_value<E: Element, T: FromInit<E>>(h: ValueHook<ArrayD<E>>) -> ValueHook<T> {
    Arc::new(move |var: &Variable<T>, v: T| {
        let proxy = erased(var);
        let out = h(&proxy, v.to_dyn());
        // A hook changing the rank cannot be stored in a fixed-rank parameter:
        // the value is then left as it was.
        T::from_dyn(out).unwrap_or(v)
    })
}

fn adapt_axis<E: Element, T: FromInit<E>>(h: AxisHook<ArrayD<E>>) -> AxisHook<T> {
    Arc::new(
        move |var: &mut Variable<T>, index: usize, name: Option<&str>| {
            let mut proxy = erased(var);
            h(&mut proxy, index, name);
            // Axis hooks update metadata (e.g. sharding names); carry it back.
            var.replace_metadata(proxy.get_metadata());
        },
    )
}

fn adapt_hooks<E: Element, T: FromInit<E>>(h: Hooks<ArrayD<E>>) -> Hooks<T> {
    Hooks {
        create: h.create.into_iter().map(adapt_value).collect(),
        get: h.get.into_iter().map(adapt_value).collect(),
        set: h.set.into_iter().map(adapt_value).collect(),
        add_axis: h.add_axis.into_iter().map(adapt_axis).collect(),
        remove_axis: h.remove_axis.into_iter().map(adapt_axis).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnx_core::init::{lecun_normal, with_metadata};

    #[test]
    fn keeps_metadata_and_hooks() -> Result<()> {
        let init = with_metadata(lecun_normal::<f32>(), |m| {
            m.with("sharding_names", ("in", "out"))
                .on_get_value(|_, v| v * 2.0)
        });
        let p = tensor_param(&init, nnx_core::random::key(0), &[2, 3])?;
        assert_eq!(
            p.get_metadata_entry("sharding_names")?.to_string(),
            "('in', 'out')"
        );
        assert_eq!(p.get_value().to_array(), p.value().to_array() * 2.0);
        Ok(())
    }

    #[test]
    fn create_hooks_fire_once() -> Result<()> {
        let init = with_metadata(nnx_core::init::ones::<f32>(), |m| {
            m.on_create_value(|_, v| v * 3.0)
        });
        let p = tensor_param(&init, nnx_core::random::key(0), &[2, 3])?;
        assert_eq!(p.value().array()[[1, 2]], 3.0);
        Ok(())
    }
}
