//! Flax's built-in Variable types.
//!
//! ```
//! use nnx_core::prelude::*;
//! let p = Param::new(1.0f32);
//! assert_eq!(p.kind(), nnx_core::Param);
//! assert_eq!(nnx_core::Perturbation.parent(), Some(nnx_core::Intermediate));
//! ```

crate::variable_type!(
    /// The canonical learnable parameter (Linen collection `params`).
    pub Param, collection = "params"
);
crate::variable_type!(
    /// Running statistics such as BatchNorm's mean and var (collection `batch_stats`).
    pub BatchStat, collection = "batch_stats"
);
crate::variable_type!(
    /// Autoregressive decoding cache (collection `cache`).
    pub Cache, collection = "cache"
);
crate::variable_type!(
    /// Values recorded by `sow` (collection `intermediates`).
    pub Intermediate, collection = "intermediates"
);
crate::variable_type!(
    /// Perturbations, an [`Intermediate`](struct@Intermediate) subtype (collection `perturbations`).
    pub Perturbation: Intermediate, collection = "perturbations"
);
crate::variable_type!(
    /// The state of a random stream (the parent of [`RngKey`](struct@RngKey) and [`RngCount`](struct@RngCount)).
    pub RngState
);
crate::variable_type!(
    /// The key of a random stream.
    pub RngKey: RngState
);
crate::variable_type!(
    /// The counter of a random stream.
    pub RngCount: RngState
);
