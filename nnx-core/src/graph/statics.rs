//! Static hyperparameters: field values that live in the GraphDef, not the State.
//!
//! A bare primitive field (`usize`, `bool`, `String`, `f32`...) and a
//! `#[nnx(static)]` field of any [`StaticHyperparameter`] type walk the same way
//! (see `std_impls`): the walker sees the value itself as a [`DynStatic`], and
//! the GraphDef keeps a copy. So `features: usize` and `#[nnx(static)] features:
//! usize` give the same GraphDef.

use std::any::Any;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The bound of `#[nnx(static)]` fields.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::graph::StaticHyperparameter;
///
/// #[derive(Clone, Debug, PartialEq, Hash)]
/// enum Act { Relu, Gelu }
/// fn is_static<T: StaticHyperparameter>(_: &T) {}
/// is_static(&Act::Gelu);
///
/// #[derive(Module)]
/// struct Mlp { w: Param<f32>, #[nnx(static)] act: Act }
/// let (g, s) = Mlp { w: Param::new(1.0), act: Act::Gelu }.split(..)?;
/// assert_ne!(g, Mlp { w: Param::new(1.0), act: Act::Relu }.graphdef()); // statics are in the GraphDef
/// assert_eq!(g.merge(s)?.act, Act::Gelu);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `#[nnx(static)]` field",
    label = "static fields live in the GraphDef, which is compared and hashed",
    note = "a static field must be Clone + Debug + PartialEq + Hash + Send + Sync + 'static"
)]
pub trait StaticHyperparameter:
    Clone + fmt::Debug + PartialEq + Hash + Send + Sync + 'static
{
}
impl<T: Clone + fmt::Debug + PartialEq + Hash + Send + Sync + 'static> StaticHyperparameter for T {}

/// A static value as walkers see it and a GraphDef stores it: comparable and
/// hashable behind `dyn`.
///
/// ```
/// use std::sync::Arc;
/// use nnx_core::graph::DynStatic;
/// let statics: Vec<Arc<dyn DynStatic>> = vec![3usize.to_arc(), String::from("relu").to_arc()];
/// assert!(statics[0].dyn_eq(&3usize));
/// assert!(!statics[0].dyn_eq(&*statics[1]));
/// ```
pub trait DynStatic: Any + Send + Sync + fmt::Debug {
    /// Equality with another static (another type is never equal).
    ///
    /// ```
    /// use nnx_core::graph::DynStatic;
    /// assert!(!1u8.dyn_eq(&1u16));
    /// ```
    fn dyn_eq(&self, other: &dyn DynStatic) -> bool;
    /// Feeds the value to a hasher.
    ///
    /// ```
    /// use std::hash::{DefaultHasher, Hash, Hasher};
    /// use nnx_core::graph::DynStatic;
    /// let (mut a, mut b) = (DefaultHasher::new(), DefaultHasher::new());
    /// 7usize.dyn_hash(&mut a);
    /// 7usize.hash(&mut b);
    /// assert_eq!(a.finish(), b.finish());
    /// ```
    fn dyn_hash(&self, state: &mut dyn Hasher);
    /// `self` as `Any`.
    ///
    /// ```
    /// use nnx_core::graph::DynStatic;
    /// assert_eq!(DynStatic::as_any(&true).downcast_ref::<bool>(), Some(&true));
    /// ```
    fn as_any(&self) -> &dyn Any;
    /// An owned copy, as a GraphDef keeps it.
    ///
    /// ```
    /// use nnx_core::graph::DynStatic;
    /// assert!(3usize.to_arc().dyn_eq(&3usize));
    /// ```
    fn to_arc(&self) -> Arc<dyn DynStatic>;
}

impl<T: StaticHyperparameter> DynStatic for T {
    fn dyn_eq(&self, other: &dyn DynStatic) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
    fn dyn_hash(&self, mut state: &mut dyn Hasher) {
        self.hash(&mut state)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn to_arc(&self) -> Arc<dyn DynStatic> {
        Arc::new(self.clone())
    }
}

/// A static as a GraphDef keeps it: the usual `usize` and `bool`
/// hyperparameters inline, any other behind an `Arc` (so recording a layer's
/// statics allocates nothing).
#[derive(Clone)]
pub(crate) enum StaticValue {
    Usize(usize),
    Bool(bool),
    Other(Arc<dyn DynStatic>),
}

impl StaticValue {
    /// A copy of `value`.
    pub(crate) fn of(value: &dyn DynStatic) -> Self {
        let any = value.as_any();
        if let Some(v) = any.downcast_ref::<usize>() {
            StaticValue::Usize(*v)
        } else if let Some(v) = any.downcast_ref::<bool>() {
            StaticValue::Bool(*v)
        } else {
            StaticValue::Other(value.to_arc())
        }
    }

    /// The value.
    pub(crate) fn get(&self) -> &dyn DynStatic {
        match self {
            StaticValue::Usize(v) => v,
            StaticValue::Bool(v) => v,
            StaticValue::Other(v) => &**v,
        }
    }
}

impl fmt::Debug for StaticValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.get(), f)
    }
}

/// A float static as a GraphDef stores it: compared and hashed by its bits (so
/// NaN equals NaN and a GraphDef is `Eq + Hash`), printed as the float.
///
/// ```
/// use nnx_core::graph::{DynStatic, StaticFloat};
/// assert!(StaticFloat(f32::NAN).dyn_eq(&StaticFloat(f32::NAN)));
/// assert_eq!(format!("{:?}", StaticFloat(0.5f64)), "0.5");
/// ```
#[derive(Clone, Copy)]
pub struct StaticFloat<F>(pub F);

macro_rules! static_float {
    ($($t:ty),*) => {$(
        impl PartialEq for StaticFloat<$t> {
            fn eq(&self, other: &Self) -> bool {
                self.0.to_bits() == other.0.to_bits()
            }
        }
        impl Hash for StaticFloat<$t> {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.0.to_bits().hash(state)
            }
        }
        impl fmt::Debug for StaticFloat<$t> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    )*};
}
static_float!(f32, f64);

#[cfg(test)]
mod tests {
    use crate::prelude::*;
    use crate::GraphDef;

    mod bare {
        use crate::prelude::*;
        #[derive(Module)]
        pub struct Net {
            pub w: Param<f32>,
            pub features: usize,
            pub name: String,
            pub rate: f32,
        }
    }
    mod marked {
        use crate::prelude::*;
        #[derive(Module)]
        pub struct Net {
            pub w: Param<f32>,
            #[nnx(static)]
            pub features: usize,
            #[nnx(static)]
            pub name: String,
            pub rate: f32,
        }
    }

    #[test]
    fn a_bare_primitive_and_a_static_field_give_the_same_graphdef() {
        let bare = bare::Net {
            w: Param::new(1.0),
            features: 3,
            name: "x".into(),
            rate: 0.5,
        };
        let marked = marked::Net {
            w: Param::new(1.0),
            features: 3,
            name: "x".into(),
            rate: 0.5,
        };
        let (g, s) = bare.split(..).unwrap();
        let as_marked = GraphDef::<marked::Net>::new(g.entries.to_vec());
        assert!(as_marked == marked.graphdef());
        // And it rebuilds the other type's statics.
        let back = as_marked.merge(s).unwrap();
        assert_eq!(
            (back.features, back.name.as_str(), back.rate),
            (3, "x", 0.5)
        );
    }
}
