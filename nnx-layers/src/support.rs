//! Plumbing shared by the layers: config setters and fixed-rank Params from
//! [`ParamInit`].

use std::sync::Arc;

use ndarray::{Array, ArrayD, Dimension};
use nnx_core::hooks::{AxisHook, Hooks, ValueHook};
use nnx_core::init::ParamInit;
use nnx_core::random::Key;
use nnx_core::{Error, Param, Result, Variable, VariableMetadata, VariableType};

/// Chainable config setters, one per Flax argument.
macro_rules! setters {
    ($cfg:ident { $($name:ident : $t:ty),* $(,)? }) => {
        impl $cfg {
            $(
                #[doc = concat!("Sets `", stringify!($name), "` (Flax's argument of that name).")]
                pub fn $name(mut self, $name: $t) -> Self {
                    self.$name = $name;
                    self
                }
            )*
        }
    };
}
pub(crate) use setters;

/// A `Param` of fixed rank from an initializer, keeping the hooks and metadata
/// that [`ParamInit`] attaches. Create hooks fire here (on the `ArrayD` value, as
/// a `Param`); get/set/axis hooks are carried over, each seeing a `Variable`
/// with the same kind and metadata. A hook that changes the rank is a bug in
/// the hook: create hooks report it as an error, later hooks leave the value as
/// it was.
pub(crate) fn init_param<D: Dimension + 'static>(
    init: &ParamInit<f32>,
    key: Key,
    shape: &[usize],
) -> Result<Param<Array<f32, D>>> {
    let VariableMetadata {
        raw_value,
        hooks,
        metadata,
    } = init.init(key, shape)?;
    let Hooks {
        create,
        get,
        set,
        add_axis,
        remove_axis,
    } = hooks;
    // Fire create hooks exactly as `Param::from_metadata` would.
    let created: Param<ArrayD<f32>> = Param::from_metadata(VariableMetadata {
        raw_value,
        hooks: Hooks {
            create,
            ..Hooks::default()
        },
        metadata,
    });
    let metadata = created.get_metadata();
    let found = created.shape().to_vec();
    let value = created
        .into_variable()
        .value()
        .clone()
        .into_dimensionality::<D>()
        .map_err(|_| {
            Error::invalid_argument(
                "initializer result",
                format!("an array of rank {}", D::NDIM.unwrap_or(0)),
                nnx_core::repr::fmt_tuple_usize(&found),
            )
        })?;
    let hooks = Hooks {
        create: Vec::new(),
        get: get.into_iter().map(value_hook::<D>).collect(),
        set: set.into_iter().map(value_hook::<D>).collect(),
        add_axis: add_axis.into_iter().map(axis_hook::<D>).collect(),
        remove_axis: remove_axis.into_iter().map(axis_hook::<D>).collect(),
    };
    Ok(Param::from_metadata(VariableMetadata {
        raw_value: value,
        hooks,
        metadata,
    }))
}

/// The dynamic-rank twin of a Variable, for calling hooks written for `ArrayD`.
fn dyn_twin<D: Dimension + 'static>(
    var: &Variable<Array<f32, D>>,
    value: ArrayD<f32>,
) -> Variable<ArrayD<f32>> {
    let mut twin = Variable::with_kind(var.kind(), value);
    twin.replace_metadata(var.get_metadata());
    twin
}

fn value_hook<D: Dimension + 'static>(h: ValueHook<ArrayD<f32>>) -> ValueHook<Array<f32, D>> {
    Arc::new(move |var: &Variable<Array<f32, D>>, v: Array<f32, D>| {
        let twin = dyn_twin(var, var.value().clone().into_dyn());
        let out = h(&twin, v.clone().into_dyn());
        out.into_dimensionality::<D>().unwrap_or(v)
    })
}

fn axis_hook<D: Dimension + 'static>(h: AxisHook<ArrayD<f32>>) -> AxisHook<Array<f32, D>> {
    Arc::new(
        move |var: &mut Variable<Array<f32, D>>, axis: usize, name: Option<&str>| {
            let mut twin = dyn_twin(var, var.value().clone().into_dyn());
            h(&mut twin, axis, name);
            var.replace_metadata(twin.get_metadata());
        },
    )
}

/// A copy of a fixed-rank parameter as `ArrayD`, as the functional API takes.
pub(crate) fn dyn_value<D: Dimension + 'static>(p: &Param<Array<f32, D>>) -> ArrayD<f32> {
    p.value().clone().into_dyn()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Ix2;
    use nnx_core::init::{ones, with_metadata};

    #[test]
    fn init_param_keeps_metadata_and_hooks() -> Result<()> {
        let init = with_metadata(ones::<f32>(), |m| {
            m.with("sharding_names", ("in", "out"))
                .on_create_value(|_, v| v * 3.0)
                .on_get_value(|_, v| v * 2.0)
        });
        let p = init_param::<Ix2>(&init, nnx_core::random::key(0), &[2, 3])?;
        assert_eq!(p.value()[[1, 2]], 3.0); // create hook fired once
        assert_eq!(p.get_value()[[0, 0]], 6.0); // get hook carried over
        assert_eq!(
            p.get_metadata_entry("sharding_names")?.to_string(),
            "('in', 'out')"
        );
        assert!(init_param::<ndarray::Ix1>(&init, nnx_core::random::key(0), &[2, 3]).is_err());
        Ok(())
    }
}
