//! Initializers whose results carry hooks and metadata (Flax's `with_metadata`).

use std::fmt;
use std::sync::Arc;

use ndarray::ArrayD;

use super::Init;
use crate::random::PrngKey;
use crate::variable::VariableMetadata;
use crate::Result;

type Decorate<A> = dyn Fn(VariableMetadata<ArrayD<A>>) -> VariableMetadata<ArrayD<A>> + Send + Sync;

/// What layers take to create a parameter: an initializer, plus the hooks and
/// metadata its Variable should carry. Every [`Init`] converts into one.
///
/// ```
/// use nnx_core::init::{lecun_normal, ParamInit};
/// use nnx_core::prelude::*;
/// let plain: ParamInit<f32> = lecun_normal().into();
/// let meta = plain.init(nnx_core::random::key(0), &[2, 3]).unwrap();
/// assert!(meta.metadata.is_empty());
/// let p = Param::from_metadata(meta);
/// assert_eq!(p.shape(), &[2, 3]);
/// ```
#[derive(Clone)]
pub struct ParamInit<A> {
    init: Init<A>,
    decorate: Option<Arc<Decorate<A>>>,
}

impl<A> ParamInit<A> {
    /// Samples the raw value and attaches the hooks and metadata.
    ///
    /// ```
    /// use nnx_core::init::{zeros, ParamInit};
    /// let meta = ParamInit::from(zeros::<f32>()).init(nnx_core::random::key(0), &[2])?;
    /// assert_eq!(meta.raw_value, ndarray::arr1(&[0.0f32, 0.0]).into_dyn());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn init(&self, key: PrngKey, shape: &[usize]) -> Result<VariableMetadata<ArrayD<A>>> {
        let meta = VariableMetadata::new(self.init.init(key, shape)?);
        Ok(match &self.decorate {
            Some(d) => d(meta),
            None => meta,
        })
    }
}

impl<A> From<Init<A>> for ParamInit<A> {
    fn from(init: Init<A>) -> Self {
        ParamInit {
            init,
            decorate: None,
        }
    }
}

impl<A> fmt::Debug for ParamInit<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParamInit")
            .field("with_metadata", &self.decorate.is_some())
            .finish()
    }
}

/// Wraps an initializer so that its result carries hooks and metadata, the way
/// layers get e.g. sharding names onto their kernels (Flax's `nnx.with_metadata`).
/// `decorate` receives the raw value wrapped in a [`VariableMetadata`] and adds to it.
///
/// ```
/// use nnx_core::init::{lecun_normal, with_metadata};
/// use nnx_core::prelude::*;
/// let init = with_metadata(lecun_normal::<f32>(), |m| {
///     m.with("sharding_names", ("in", "out")).on_get_value(|_, v| v * 2.0)
/// });
/// let p = Param::from_metadata(init.init(nnx_core::random::key(0), &[2, 3]).unwrap());
/// assert_eq!(p.get_metadata_entry("sharding_names").unwrap().to_string(), "('in', 'out')");
/// assert_eq!(p.get_value(), &*p.value() * 2.0);
/// ```
pub fn with_metadata<A>(
    init: Init<A>,
    decorate: impl Fn(VariableMetadata<ArrayD<A>>) -> VariableMetadata<ArrayD<A>>
        + Send
        + Sync
        + 'static,
) -> ParamInit<A> {
    ParamInit {
        init,
        decorate: Some(Arc::new(decorate)),
    }
}
