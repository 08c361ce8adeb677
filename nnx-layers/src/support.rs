//! Plumbing shared by the stateful layers: hand-written graph impls (until
//! `#[derive(Module)]` lands) and fixed-rank Params from [`ParamInit`].

use std::sync::Arc;

use ndarray::{Array, ArrayD, Dimension};
use nnx_core::hooks::{AxisHook, Hooks, ValueHook};
use nnx_core::init::ParamInit;
use nnx_core::random::Key;
use nnx_core::{Error, Param, Result, Variable, VariableMetadata, VariableType};

/// Implements `Field` + `Module` for a layer struct: `node` fields are graph
/// children (Variables, `Option`s, sublayers, streams), `static` fields are
/// hyperparameters stored in the GraphDef. Walk and build visit fields in the
/// order listed, which is what the GraphDef records.
macro_rules! impl_module {
    ($ty:ident { $($kind:ident $field:ident),* $(,)? }) => {
        impl ::nnx_core::graph::Field for $ty {
            fn walk_field(&self, key: &::nnx_core::Key, w: &mut dyn ::nnx_core::graph::Walker) {
                w.enter(key, ::nnx_core::graph::NodeHeader::node(stringify!($ty)));
                $( impl_module!(@walk $kind self.$field, stringify!($field), w); )*
                w.leave();
            }
            fn walk_field_mut(
                &mut self,
                key: &::nnx_core::Key,
                w: &mut dyn ::nnx_core::graph::WalkerMut,
                _removable: bool,
            ) -> bool {
                w.enter(key, ::nnx_core::graph::NodeHeader::node(stringify!($ty)));
                $( impl_module!(@walk_mut $kind self.$field, stringify!($field), w); )*
                w.leave();
                false
            }
            fn build_field(
                key: &::nnx_core::Key,
                b: &mut ::nnx_core::graph::Builder<'_>,
            ) -> ::nnx_core::Result<Self> {
                b.enter(key)?;
                let out = $ty { $( $field: impl_module!(@build $kind stringify!($field), b), )* };
                b.leave()?;
                Ok(out)
            }
        }
        impl ::nnx_core::Module for $ty {}
    };
    (@walk node $e:expr, $name:expr, $w:ident) => {
        ::nnx_core::graph::Field::walk_field(&$e, &::nnx_core::Key::from($name), $w)
    };
    (@walk static $e:expr, $name:expr, $w:ident) => {
        ::nnx_core::graph::field::walk_static(&$e, &::nnx_core::Key::from($name), $w)
    };
    (@walk_mut node $e:expr, $name:expr, $w:ident) => {
        ::nnx_core::graph::Field::walk_field_mut(&mut $e, &::nnx_core::Key::from($name), $w, false)
    };
    (@walk_mut static $e:expr, $name:expr, $w:ident) => {
        ::nnx_core::graph::field::walk_static_mut(&mut $e, &::nnx_core::Key::from($name), $w)
    };
    (@build node $name:expr, $b:ident) => {
        ::nnx_core::graph::Field::build_field(&::nnx_core::Key::from($name), $b)?
    };
    (@build static $name:expr, $b:ident) => {
        ::nnx_core::graph::field::build_static(&::nnx_core::Key::from($name), $b)?
    };
}
pub(crate) use impl_module;

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
