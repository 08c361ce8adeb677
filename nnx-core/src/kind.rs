//! Variable kinds: the run-time face of Variable types.
//!
//! Every Variable type (`Param`, `BatchStat`, a user's `CustomVariable`...) has one
//! [`Kind`]: its name, its parent kind (subtype semantics, like Python's `isinstance`)
//! and an optional Linen collection name. Kinds are compared by identity.
//!
//! ```
//! assert!(nnx_core::Perturbation.is_subtype_of(nnx_core::Intermediate));
//! assert_eq!(nnx_core::BatchStat.name(), "BatchStat");
//! ```

use std::fmt;

/// The static description of a Variable type. Create one through
/// [`variable_type!`](crate::variable_type), or at run time through the
/// [registry](crate::registry).
///
/// ```
/// use nnx_core::KindInfo;
/// static INFO: KindInfo = KindInfo::new("Stat", Some(nnx_core::Variable.info()), Some("stats"));
/// let kind = nnx_core::Kind::from_static(&INFO);
/// assert_eq!(kind.name(), "Stat");
/// ```
#[derive(Debug)]
pub struct KindInfo {
    name: &'static str,
    parent: Option<&'static KindInfo>,
    collection: Option<&'static str>,
}

impl KindInfo {
    /// A kind description. `parent` is `None` only for the root kind `Variable`.
    ///
    /// ```
    /// use nnx_core::{Kind, KindInfo};
    /// static MINE: KindInfo = KindInfo::new("Mine", Some(nnx_core::Param.info()), None);
    /// let kind = Kind::from_static(&MINE);
    /// assert!(kind.is_subtype_of(nnx_core::Param));
    /// ```
    pub const fn new(
        name: &'static str,
        parent: Option<&'static KindInfo>,
        collection: Option<&'static str>,
    ) -> Self {
        KindInfo {
            name,
            parent,
            collection,
        }
    }
}

/// A Variable type as a value: what `type(variable)` is in Flax.
///
/// `Kind` is `Copy` and compares by identity. It is also a [`Filter`](crate::filter::Filter)
/// that matches its own kind and every subtype.
///
/// ```
/// use nnx_core::{Param, Variable, Intermediate, Perturbation};
/// assert_eq!(Param.name(), "Param");
/// assert!(Perturbation.is_subtype_of(Intermediate));
/// assert!(Param.is_subtype_of(Variable));
/// assert!(!Param.is_subtype_of(Intermediate));
/// ```
#[derive(Clone, Copy)]
pub struct Kind(&'static KindInfo);

impl Kind {
    /// The kind described by a `static` [`KindInfo`].
    ///
    /// ```
    /// # use nnx_core::{Kind, KindInfo};
    /// static K: KindInfo = KindInfo::new("K", Some(nnx_core::Variable.info()), None);
    /// assert_eq!(Kind::from_static(&K).name(), "K");
    /// ```
    pub const fn from_static(info: &'static KindInfo) -> Self {
        Kind(info)
    }

    /// The description behind this kind.
    ///
    /// ```
    /// use nnx_core::Kind;
    /// assert_eq!(Kind::from_static(nnx_core::Cache.info()), nnx_core::Cache);
    /// ```
    pub const fn info(self) -> &'static KindInfo {
        self.0
    }

    /// The type's name, as printed (`Param`).
    ///
    /// ```
    /// assert_eq!(nnx_core::BatchStat.name(), "BatchStat");
    /// ```
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// The parent kind, `None` for the root `Variable`.
    ///
    /// ```
    /// assert_eq!(nnx_core::Perturbation.parent().unwrap(), nnx_core::Intermediate);
    /// assert!(nnx_core::Variable.parent().is_none());
    /// ```
    pub fn parent(self) -> Option<Kind> {
        self.0.parent.map(Kind)
    }

    /// The Linen collection name declared with the type, if any.
    ///
    /// ```
    /// assert_eq!(nnx_core::Param.declared_collection(), Some("params"));
    /// ```
    pub fn declared_collection(self) -> Option<&'static str> {
        self.0.collection
    }

    /// Whether `self` is `other` or derives from it (Python's `issubclass`).
    ///
    /// ```
    /// assert!(nnx_core::Param.is_subtype_of(nnx_core::Param));
    /// ```
    pub fn is_subtype_of(self, other: Kind) -> bool {
        let mut cur = Some(self);
        while let Some(k) = cur {
            if k == other {
                return true;
            }
            cur = k.parent();
        }
        false
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Kind {}

impl std::hash::Hash for Kind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(self.0, state)
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
