//! Hand-written `Field`/`Module` impls for the layers, the code
//! `#[derive(Module)]` generates (children in sorted key order).

/// Implements `nnx_core::graph::Field` and `nnx_core::Module` for a layer
/// struct. Each field is `child` (its type's own `Field` impl: Variables,
/// `Option`s, primitives) or `stat` (a `StaticHyperparameter` stored in the
/// GraphDef). List fields in sorted order, as the derive visits them.
macro_rules! graph_node {
    ($ty:ident { $($name:ident : $kind:ident),* $(,)? }) => {
        impl ::nnx_core::graph::Field for $ty {
            fn walk_field(&self, key: &::nnx_core::Key, w: &mut dyn ::nnx_core::graph::Walker) {
                w.enter(key, ::nnx_core::graph::NodeHeader::node(stringify!($ty)));
                $( graph_node!(@walk $kind, &self.$name, stringify!($name), w); )*
                w.leave();
            }
            fn walk_field_mut(
                &mut self,
                key: &::nnx_core::Key,
                w: &mut dyn ::nnx_core::graph::WalkerMut,
                _removable: bool,
            ) -> bool {
                w.enter(key, ::nnx_core::graph::NodeHeader::node(stringify!($ty)));
                $( graph_node!(@walk_mut $kind, &mut self.$name, stringify!($name), w); )*
                w.leave();
                false
            }
            fn build_field(
                key: &::nnx_core::Key,
                b: &mut ::nnx_core::graph::Builder<'_>,
            ) -> ::nnx_core::Result<Self> {
                b.enter(key)?;
                $( let $name = graph_node!(@build $kind, stringify!($name), b)?; )*
                b.leave()?;
                Ok($ty { $($name),* })
            }
        }
        impl ::nnx_core::Module for $ty {}
    };
    (@walk child, $e:expr, $k:expr, $w:ident) => {
        ::nnx_core::graph::Field::walk_field($e, &::nnx_core::Key::from($k), $w)
    };
    (@walk stat, $e:expr, $k:expr, $w:ident) => {
        ::nnx_core::graph::field::walk_static($e, &::nnx_core::Key::from($k), $w)
    };
    (@walk_mut child, $e:expr, $k:expr, $w:ident) => {
        ::nnx_core::graph::Field::walk_field_mut($e, &::nnx_core::Key::from($k), $w, false)
    };
    (@walk_mut stat, $e:expr, $k:expr, $w:ident) => {
        ::nnx_core::graph::field::walk_static_mut($e, &::nnx_core::Key::from($k), $w)
    };
    (@build child, $k:expr, $b:ident) => {
        ::nnx_core::graph::Field::build_field(&::nnx_core::Key::from($k), $b)
    };
    (@build stat, $k:expr, $b:ident) => {
        ::nnx_core::graph::field::build_static(&::nnx_core::Key::from($k), $b)
    };
}

pub(crate) use graph_node;
