//! Parameters of a fixed rank, built from rank-erased initializer output.

use std::sync::Arc;

use ndarray::{Array, ArrayD, Dimension, IxDyn};
use nnx_core::init::{lecun_normal, zeros, ParamInit};
use nnx_core::random::PrngKey;
use nnx_core::rngs::Rngs;
use nnx_core::{AxisHook, Hooks, ValueHook};
use nnx_core::{Error, Param, Result, Variable, VariableMetadata, VariableType};
use nnx_tensor::Tensor;

use crate::functional::{fmt_tuple_usize, shape_err};
use crate::support::check_alloc;

/// The kernel and bias options of the dense and convolution layers, with
/// Flax's defaults (a bias, `lecun_normal` kernel, zero bias).
#[derive(Debug, Clone)]
pub(crate) struct KernelBias {
    pub(crate) use_bias: bool,
    pub(crate) kernel_init: ParamInit<f32>,
    pub(crate) bias_init: ParamInit<f32>,
}

impl Default for KernelBias {
    fn default() -> Self {
        KernelBias {
            use_bias: true,
            kernel_init: lecun_normal().into(),
            bias_init: zeros().into(),
        }
    }
}

impl KernelBias {
    /// The bias initializer, when there is a bias.
    pub(crate) fn bias(&self) -> Option<&ParamInit<f32>> {
        self.use_bias.then_some(&self.bias_init)
    }
}

/// `init.init(key, shape)` after checking that `shape` can be allocated at
/// all (layer configs size their parameters, and a user may ask for anything).
pub(crate) fn checked_init(
    init: &ParamInit<f32>,
    key: PrngKey,
    shape: &[usize],
) -> Result<VariableMetadata<ArrayD<f32>>> {
    let n = check_alloc("parameter shape", shape, std::mem::size_of::<f32>())?;
    // The initializers (nnx-core) allocate infallibly; asking the allocator
    // first turns a size it can never serve into an error instead of an abort.
    // Building a layer is not a hot path: the probe costs one malloc/free.
    Vec::<f32>::new().try_reserve_exact(n).map_err(|_| {
        Error::invalid_argument(
            "parameter shape",
            "a shape that fits in memory",
            fmt_tuple_usize(shape),
        )
    })?;
    init.init(key, shape)
}

/// `Param::from_metadata(init.init(key, shape)?)` with the value converted to
/// rank `D`.
pub(crate) fn param<D: Dimension + 'static>(
    init: &ParamInit<f32>,
    key: PrngKey,
    shape: &[usize],
) -> Result<Param<Array<f32, D>>> {
    from_init::<D>(checked_init(init, key, shape)?, shape)
}

/// Flax's `LinearGeneral` init: sampled with the flattened shape `flat` (so
/// the fans are those of a matrix), then reshaped to `shape`.
pub(crate) fn flat_param<D: Dimension + 'static>(
    init: &ParamInit<f32>,
    key: PrngKey,
    flat: &[usize],
    shape: &[usize],
) -> Result<Param<Array<f32, D>>> {
    let mut meta = checked_init(init, key, flat)?;
    let raw = std::mem::take(&mut meta.raw_value);
    meta.raw_value = raw
        .into_shape_with_order(IxDyn(shape))
        .map_err(|_| shape_err("initializer output", fmt_tuple_usize(shape), flat))?;
    from_init::<D>(meta, shape)
}

/// An initializer's output as a rank-`D` parameter.
fn from_init<D: Dimension + 'static>(
    mut meta: VariableMetadata<ArrayD<f32>>,
    shape: &[usize],
) -> Result<Param<Array<f32, D>>> {
    let raw = to_rank::<D>(std::mem::take(&mut meta.raw_value), shape)?;
    Ok(with_init_metadata(meta, raw))
}

/// `value` as a parameter with the metadata of the initializer output `meta`.
/// Initializers work on `ArrayD`; the hooks they attach are adapted to the
/// parameter's value type (they see a rank-erased copy of the Variable).
fn with_init_metadata<V: Erased>(meta: VariableMetadata<ArrayD<f32>>, value: V) -> Param<V> {
    let mut out = VariableMetadata::new(value);
    out.metadata = meta.metadata;
    if !meta.hooks.is_empty() {
        out.hooks = adapt_hooks(meta.hooks);
    }
    Param::from_metadata(out)
}

/// `param::<IxDyn>` as a `Param<Tensor>`: the value layers differentiate.
pub(crate) fn tensor_param(
    init: &ParamInit<f32>,
    key: PrngKey,
    shape: &[usize],
) -> Result<Param<Tensor>> {
    let mut meta = checked_init(init, key, shape)?;
    let raw = to_rank::<IxDyn>(std::mem::take(&mut meta.raw_value), shape)?;
    Ok(with_init_metadata(meta, Tensor::new(raw)))
}

/// [`opt_param`] as a `Param<Tensor>`.
pub(crate) fn opt_tensor_param(
    rngs: &mut Rngs,
    init: Option<&ParamInit<f32>>,
    shape: &[usize],
) -> Result<Option<Param<Tensor>>> {
    match init {
        Some(init) => Ok(Some(tensor_param(init, rngs.next_key("params")?, shape)?)),
        None => Ok(None),
    }
}

/// A parameter drawn with the next `params` key when `init` is given (an
/// optional bias or scale), `None` without drawing a key otherwise, as Flax
/// draws keys only for the parameters it creates.
pub(crate) fn opt_param<D: Dimension + 'static>(
    rngs: &mut Rngs,
    init: Option<&ParamInit<f32>>,
    shape: &[usize],
) -> Result<Option<Param<Array<f32, D>>>> {
    match init {
        Some(init) => Ok(Some(param::<D>(init, rngs.next_key("params")?, shape)?)),
        None => Ok(None),
    }
}

/// Converts an initializer's output to rank `D`, checking its shape.
pub(crate) fn to_rank<D: Dimension>(a: ArrayD<f32>, shape: &[usize]) -> Result<Array<f32, D>> {
    if a.shape() != shape {
        return Err(Error::ShapeMismatch {
            path: nnx_core::ErrorPath("initializer output".into()),
            expected: nnx_core::repr::fmt_tuple_usize(shape),
            found: nnx_core::repr::fmt_tuple_usize(a.shape()),
        });
    }
    let found = a.shape().to_vec();
    a.into_dimensionality::<D>().map_err(|_| {
        Error::invalid_argument(
            "initializer output",
            format!("rank {}", D::NDIM.unwrap_or(0)),
            format!("rank {}", found.len()),
        )
    })
}

/// A parameter value that initializer hooks, written for `ArrayD<f32>`, can
/// look at and replace.
trait Erased: nnx_core::value::Value + Clone + Send + Sync + 'static {
    fn erase(&self) -> ArrayD<f32>;
    /// `a` as this type; `None` when it cannot hold it (another rank).
    fn restore(a: ArrayD<f32>) -> Option<Self>;
}

impl<D: Dimension + 'static> Erased for Array<f32, D> {
    fn erase(&self) -> ArrayD<f32> {
        self.clone().into_dyn()
    }
    fn restore(a: ArrayD<f32>) -> Option<Self> {
        a.into_dimensionality::<D>().ok()
    }
}

impl Erased for Tensor {
    fn erase(&self) -> ArrayD<f32> {
        self.to_array()
    }
    fn restore(a: ArrayD<f32>) -> Option<Self> {
        Some(Tensor::new(a))
    }
}

/// A rank-erased copy of `var` (kind, value and metadata) for a hook to look at.
fn erased<V: Erased>(var: &Variable<V>) -> Variable<ArrayD<f32>> {
    let mut proxy = Variable::with_kind(var.kind(), var.value().erase());
    proxy.replace_metadata(var.get_metadata());
    proxy
}

fn adapt_value<V: Erased>(h: ValueHook<ArrayD<f32>>) -> ValueHook<V> {
    Arc::new(move |var: &Variable<V>, v: V| {
        let proxy = erased(var);
        let out = h(&proxy, v.erase());
        // A hook changing the rank cannot be stored in a fixed-rank parameter:
        // the value is then left as it was.
        V::restore(out).unwrap_or(v)
    })
}

fn adapt_axis<V: Erased>(h: AxisHook<ArrayD<f32>>) -> AxisHook<V> {
    Arc::new(
        move |var: &mut Variable<V>, index: usize, name: Option<&str>| {
            let mut proxy = erased(var);
            h(&mut proxy, index, name);
            // Axis hooks update metadata (e.g. sharding names); carry it back.
            var.replace_metadata(proxy.get_metadata());
        },
    )
}

fn adapt_hooks<V: Erased>(h: Hooks<ArrayD<f32>>) -> Hooks<V> {
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
    use ndarray::Ix2;
    use nnx_core::init::{lecun_normal, with_metadata};

    #[test]
    fn keeps_metadata_and_hooks() -> Result<()> {
        let init = with_metadata(lecun_normal::<f32>(), |m| {
            m.with("sharding_names", ("in", "out"))
                .on_get_value(|_, v| v * 2.0)
        });
        let p = param::<Ix2>(&init, nnx_core::random::key(0), &[2, 3])?;
        assert_eq!(
            p.get_metadata_entry("sharding_names")?.to_string(),
            "('in', 'out')"
        );
        assert_eq!(p.get_value(), p.value() * 2.0);
        Ok(())
    }

    #[test]
    fn create_hooks_fire_once() -> Result<()> {
        let init = with_metadata(nnx_core::init::ones::<f32>(), |m| {
            m.on_create_value(|_, v| v * 3.0)
        });
        let p = param::<Ix2>(&init, nnx_core::random::key(0), &[2, 3])?;
        assert_eq!(p.value()[[1, 2]], 3.0);
        Ok(())
    }

    #[test]
    fn rejects_wrong_rank() {
        let init: ParamInit<f32> = lecun_normal::<f32>().into();
        assert!(param::<Ix2>(&init, nnx_core::random::key(0), &[2, 3, 4]).is_err());
    }
}
