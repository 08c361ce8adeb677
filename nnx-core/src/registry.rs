//! The name registry: Linen collection names <-> Variable types (Flax's
//! `variable_name_from_type`, `variable_type_from_name`, `register_variable_name`).
//!
//! Built in: `params` → `Param`, `batch_stats` → `BatchStat`, `cache` → `Cache`,
//! `intermediates` → `Intermediate`, `perturbations` → `Perturbation`. Lookups by type
//! are exact (a subtype is not its parent's name). A type declared with
//! `variable_type!(pub T, collection = "name")` registers that name the first time it
//! is looked up by type. The registry is process-wide and thread-safe.
//!
//! ```
//! use nnx_core::registry::{variable_name_from_type, variable_type_from_name};
//! assert_eq!(variable_type_from_name("batch_stats").unwrap(), nnx_core::BatchStat);
//! assert_eq!(variable_name_from_type(nnx_core::Cache).unwrap(), "cache");
//! ```

use std::sync::{OnceLock, RwLock};

use crate::error::{Error, Result};
use crate::kind::{Kind, KindInfo};

fn table() -> &'static RwLock<Vec<(String, Kind)>> {
    static TABLE: OnceLock<RwLock<Vec<(String, Kind)>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        RwLock::new(
            [
                ("params", crate::Param),
                ("batch_stats", crate::BatchStat),
                ("cache", crate::Cache),
                ("intermediates", crate::Intermediate),
                ("perturbations", crate::Perturbation),
            ]
            .into_iter()
            .map(|(n, k)| (n.to_string(), k))
            .collect(),
        )
    })
}

fn read() -> std::sync::RwLockReadGuard<'static, Vec<(String, Kind)>> {
    // The table stays consistent under a panic: every write is one push or one store.
    table().read().unwrap_or_else(|e| e.into_inner())
}

fn write() -> std::sync::RwLockWriteGuard<'static, Vec<(String, Kind)>> {
    table().write().unwrap_or_else(|e| e.into_inner())
}

/// The Variable type registered under a collection name.
///
/// ```
/// use nnx_core::registry::variable_type_from_name;
/// assert_eq!(variable_type_from_name("params").unwrap(), nnx_core::Param);
/// assert!(variable_type_from_name("no_such_collection").is_err());
/// ```
pub fn variable_type_from_name(name: &str) -> Result<Kind> {
    read()
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, k)| *k)
        .ok_or_else(|| Error::Registry {
            expected: "a registered collection name (see register_variable_name)".to_string(),
            found: format!("'{name}'"),
        })
}

/// Like [`variable_type_from_name`], but an unknown name creates and registers a new
/// kind with that name, derived from `base` (Flax's `allow_register=True`).
///
/// ```
/// use nnx_core::registry::{variable_type_from_name_or_register, variable_name_from_type};
/// let k = variable_type_from_name_or_register("lora_doc_example", nnx_core::Param);
/// assert_eq!(k.name(), "lora_doc_example");
/// assert!(k.is_subtype_of(nnx_core::Param));
/// assert_eq!(variable_name_from_type(k).unwrap(), "lora_doc_example");
/// ```
pub fn variable_type_from_name_or_register(name: &str, base: Kind) -> Kind {
    let mut t = write();
    if let Some((_, k)) = t.iter().find(|(n, _)| n == name) {
        return *k;
    }
    // Leaked once per new name: kinds live for the whole program, like Python classes.
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    let info: &'static KindInfo = Box::leak(Box::new(KindInfo::new(
        leaked,
        Some(base.info()),
        Some(leaked),
    )));
    let kind = Kind::from_static(info);
    t.push((name.to_string(), kind));
    kind
}

/// The collection name registered for exactly this Variable type.
///
/// ```
/// use nnx_core::registry::variable_name_from_type;
/// assert_eq!(variable_name_from_type(nnx_core::BatchStat).unwrap(), "batch_stats");
/// assert!(variable_name_from_type(nnx_core::RngKey).is_err());
/// ```
pub fn variable_name_from_type(kind: Kind) -> Result<String> {
    if let Some(name) = lookup_name(kind) {
        return Ok(name);
    }
    if let Some(declared) = kind.declared_collection() {
        return register_variable_name(declared, kind, false).map(|_| declared.to_string());
    }
    Err(Error::Registry {
        expected: "a registered Variable type (see register_variable_name)".to_string(),
        found: kind.name().to_string(),
    })
}

/// Like [`variable_name_from_type`], but an unregistered type is registered under
/// its own name (Flax's `allow_register=True`); an error if that name is taken.
///
/// ```
/// use nnx_core::registry::variable_name_from_type_or_register;
/// nnx_core::variable_type!(pub RegistryDocVar);
/// assert_eq!(variable_name_from_type_or_register(RegistryDocVar).unwrap(), "RegistryDocVar");
/// ```
pub fn variable_name_from_type_or_register(kind: Kind) -> Result<String> {
    match variable_name_from_type(kind) {
        Ok(name) => Ok(name),
        Err(_) => register_variable_name(kind.name(), kind, false).map(|_| kind.name().to_string()),
    }
}

fn lookup_name(kind: Kind) -> Option<String> {
    read()
        .iter()
        .find(|(_, k)| *k == kind)
        .map(|(n, _)| n.clone())
}

/// Maps `name` to `kind`. An error if the name is taken, unless `overwrite`.
///
/// ```
/// use nnx_core::registry::{register_variable_name, variable_type_from_name};
/// nnx_core::variable_type!(pub Lora);
/// register_variable_name("lora_doc", Lora, false).unwrap();
/// assert_eq!(variable_type_from_name("lora_doc").unwrap(), Lora);
/// assert!(register_variable_name("lora_doc", nnx_core::Param, false).is_err());
/// register_variable_name("lora_doc", nnx_core::Param, true).unwrap();
/// assert_eq!(variable_type_from_name("lora_doc").unwrap(), nnx_core::Param);
/// ```
pub fn register_variable_name(name: &str, kind: Kind, overwrite: bool) -> Result<Kind> {
    let mut t = write();
    match t.iter_mut().find(|(n, _)| n == name) {
        Some((_, existing)) if !overwrite => Err(Error::Registry {
            expected: format!("a free name, or overwrite = true (it is mapped to {existing})"),
            found: format!("'{name}' already registered"),
        }),
        Some((_, existing)) => {
            *existing = kind;
            Ok(kind)
        }
        None => {
            t.push((name.to_string(), kind));
            Ok(kind)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_round_trips() {
        for (name, kind) in [
            ("params", crate::Param),
            ("batch_stats", crate::BatchStat),
            ("cache", crate::Cache),
            ("intermediates", crate::Intermediate),
            ("perturbations", crate::Perturbation),
        ] {
            assert_eq!(variable_type_from_name(name).unwrap(), kind);
            assert_eq!(variable_name_from_type(kind).unwrap(), name);
        }
    }

    #[test]
    fn lookup_by_type_is_exact() {
        crate::variable_type!(SubParam: crate::Param);
        assert!(variable_name_from_type(SubParam).is_err());
    }

    #[test]
    fn declared_collection_registers_on_first_lookup() {
        crate::variable_type!(Declared, collection = "declared_test_collection");
        assert!(variable_type_from_name("declared_test_collection").is_err());
        assert_eq!(
            variable_name_from_type(Declared).unwrap(),
            "declared_test_collection"
        );
        assert_eq!(
            variable_type_from_name("declared_test_collection").unwrap(),
            Declared
        );
    }

    #[test]
    fn allow_register_from_type_errors_when_name_taken() {
        crate::variable_type!(Taken);
        register_variable_name("Taken", crate::Param, true).unwrap();
        let err = variable_name_from_type_or_register(Taken).unwrap_err();
        assert!(
            err.to_string().contains("'Taken' already registered"),
            "{err}"
        );
    }

    #[test]
    fn allow_register_from_name_is_idempotent() {
        let a = variable_type_from_name_or_register("idem_test", crate::BatchStat);
        let b = variable_type_from_name_or_register("idem_test", crate::Param);
        assert_eq!(a, b);
        assert!(a.is_subtype_of(crate::BatchStat));
    }

    #[test]
    fn concurrent_registration_is_consistent() {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                std::thread::spawn(move || {
                    variable_type_from_name_or_register(&format!("thread_{}", i % 2), crate::Param)
                })
            })
            .collect();
        let kinds: Vec<Kind> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for (i, k) in kinds.iter().enumerate() {
            assert_eq!(*k, kinds[i % 2]);
        }
    }
}
