//! Saving a module's Variables and loading them back into a module, checked
//! against the module's own State.

use std::collections::HashMap;
use std::path::Path as FsPath;

use super::decode::{self, Record};
use super::meta::dotted;
use crate::error::{Error, Result};
use crate::graph::fit::{describe, fit, Fit, Slot};
use crate::key::Path;
use crate::registry::variable_type_from_name;
use crate::state::State;
use crate::value::{short_type_name, Value};
use crate::variable::VariableState;
use crate::Module;

/// Writes every Variable of `model` to a safetensors file (see
/// [`save_state`](super::save_state)).
///
/// ```
/// use nnx_core::prelude::*;
/// let model = vec![Param::new(ndarray::Array2::<f32>::eye(2))];
/// let file = std::env::temp_dir().join(format!("nnx-doc-msave-{}.safetensors", std::process::id()));
/// nnx_core::checkpoint::save(&model, &file).unwrap();
/// assert_eq!(nnx_core::checkpoint::load_state(&file).unwrap().len(), 1);
/// # std::fs::remove_file(&file).ok();
/// ```
pub fn save<M: Module>(model: &M, path: impl AsRef<FsPath>) -> Result<()> {
    super::save_state(&model.state(), path)
}

/// How [`load_into_with`] treats a checkpoint that does not fit the module.
///
/// ```
/// assert!(nnx_core::checkpoint::LoadOptions::default().strict);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// `true` (the default): any missing, unexpected or mismatched Variable is
    /// an error and nothing is loaded. `false`: what fits is loaded and the rest
    /// is listed in the [`LoadReport`].
    pub strict: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { strict: true }
    }
}

/// What a load did. Paths are tensor names (`layers.0.kernel`).
///
/// ```
/// let report = nnx_core::checkpoint::LoadReport::default();
/// assert!(report.is_complete());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// The Variables set from the checkpoint.
    pub loaded: Vec<String>,
    /// Variables of the module the checkpoint does not have (left unchanged).
    pub missing: Vec<String>,
    /// Tensors of the checkpoint the module has no Variable for (ignored).
    pub unexpected: Vec<String>,
    /// Every problem, missing and unexpected paths included, as the errors a
    /// strict load returns; mismatched Variables are left unchanged.
    pub problems: Vec<Error>,
}

impl LoadReport {
    /// Whether everything fitted: no problem at all.
    ///
    /// ```
    /// let mut report = nnx_core::checkpoint::LoadReport::default();
    /// report.missing.push("w".into());
    /// assert!(report.is_complete()); // only `problems` counts
    /// ```
    pub fn is_complete(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Loads a checkpoint into `model`, strictly: every Variable of the model must
/// be in the file with the same Variable type, dtype and shape, and the file
/// must have nothing else. Otherwise the `Err` lists every problem at once (an
/// [`Error::Many`] when there are several) and the model is unchanged.
///
/// Each value is converted to the type the model's field holds (an `ArrayD`
/// from the file becomes the field's `Array2<f32>`, say) by moving the array,
/// so memory peaks at the model plus one copy of the data. The model's
/// metadata and hooks are kept; a tensor without a Variable type entry (a file
/// from another tool) takes the model's type.
///
/// ```
/// use nnx_core::prelude::*;
/// use ndarray::Array2;
/// let file = std::env::temp_dir().join(format!("nnx-doc-into-{}.safetensors", std::process::id()));
/// let trained = vec![Param::new(Array2::<f32>::from_elem((2, 2), 7.0))];
/// nnx_core::checkpoint::save(&trained, &file).unwrap();
///
/// let mut fresh = vec![Param::new(Array2::<f32>::zeros((2, 2)))];
/// let report = nnx_core::checkpoint::load_into(&mut fresh, &file).unwrap();
/// assert_eq!(report.loaded, ["0"]);
/// assert_eq!(fresh[0][[1, 1]], 7.0);
///
/// let mut wrong = vec![Param::new(Array2::<f32>::zeros((3, 2)))];
/// let err = nnx_core::checkpoint::load_into(&mut wrong, &file).unwrap_err();
/// assert_eq!(err.to_string(), "shape mismatch at 0: expected (3, 2), found (2, 2)");
/// # std::fs::remove_file(&file).ok();
/// ```
pub fn load_into<M: Module>(model: &mut M, path: impl AsRef<FsPath>) -> Result<LoadReport> {
    load_into_with(model, path, LoadOptions::default())
}

/// [`load_into`] with options: `LoadOptions { strict: false }` loads what fits
/// and returns a report listing the rest.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::checkpoint::{self, LoadOptions};
/// let file = std::env::temp_dir().join(format!("nnx-doc-lenient-{}.safetensors", std::process::id()));
/// checkpoint::save(&vec![Param::new(1.0f32)], &file).unwrap();
/// let mut model = vec![Param::new(0.0f32), Param::new(0.0f32)];
/// let report = checkpoint::load_into_with(&mut model, &file, LoadOptions { strict: false }).unwrap();
/// assert_eq!((report.loaded, report.missing), (vec!["0".to_string()], vec!["1".to_string()]));
/// assert_eq!((*model[0], *model[1]), (1.0, 0.0));
/// # std::fs::remove_file(&file).ok();
/// ```
pub fn load_into_with<M: Module>(
    model: &mut M,
    path: impl AsRef<FsPath>,
    options: LoadOptions,
) -> Result<LoadReport> {
    apply(model, decode::read_file(path.as_ref())?, options)
}

/// [`load_into_with`] from the bytes of a safetensors file.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::checkpoint::{self, LoadOptions};
/// let bytes = checkpoint::save_state_to_bytes(&vec![BatchStat::new(2i32)].state()).unwrap();
/// let mut model = vec![BatchStat::new(0i32)];
/// checkpoint::load_into_from_bytes_with(&mut model, &bytes, LoadOptions::default()).unwrap();
/// assert_eq!(*model[0], 2);
/// ```
pub fn load_into_from_bytes_with<M: Module>(
    model: &mut M,
    bytes: &[u8],
    options: LoadOptions,
) -> Result<LoadReport> {
    apply(model, decode::read_bytes(bytes)?, options)
}

fn apply<M: Module>(
    model: &mut M,
    records: Vec<Record>,
    options: LoadOptions,
) -> Result<LoadReport> {
    let mut by_path: HashMap<Path, Record> =
        records.into_iter().map(|r| (r.path.clone(), r)).collect();
    let mut report = LoadReport::default();
    let mut converted = Vec::new();
    for (path, leaf) in model.state().into_flat() {
        let name = dotted(&path);
        let Some(record) = by_path.remove(&path) else {
            report.problems.push(Error::MissingPath {
                path: name.clone().into(),
                expected: format!("{} ({})", leaf.kind, describe(&*leaf.value)),
            });
            report.missing.push(name);
            continue;
        };
        match convert(&name, &leaf, record) {
            Ok(value) => {
                converted.push((path, leaf.with_value(value)));
                report.loaded.push(name);
            }
            Err(errors) => report.problems.extend(errors),
        }
    }
    let mut unexpected: Vec<Record> = by_path.into_values().collect();
    unexpected.sort_by(|a, b| a.path.cmp(&b.path));
    for r in unexpected {
        report.problems.push(Error::UnexpectedPath {
            path: r.name.clone().into(),
            found: format!(
                "{} ({})",
                r.kind.as_deref().unwrap_or("tensor"),
                describe(&*r.value)
            ),
        });
        report.unexpected.push(r.name);
    }
    if options.strict && !report.problems.is_empty() {
        return Err(Error::many(report.problems));
    }
    if !converted.is_empty() {
        model.update(State::from_flat(converted)?)?;
    }
    Ok(report)
}

/// The checkpoint's value as the type the model's leaf holds, or every way it
/// does not fit (the graph's leaf-fit rule; a tensor without a Variable type takes
/// the model's).
fn convert(
    name: &str,
    leaf: &VariableState,
    record: Record,
) -> std::result::Result<std::sync::Arc<dyn Value>, Vec<Error>> {
    let slot = Slot::Live {
        kind: leaf.kind,
        value: &*leaf.value,
    };
    let kind = match record.kind.as_deref() {
        None => None,
        Some(n) if n == leaf.kind.name() => Some(leaf.kind),
        Some(n) => match variable_type_from_name(n) {
            Ok(k) => Some(k),
            // A type this program does not know cannot be the model's.
            Err(_) => {
                return Err(vec![Error::KindMismatch {
                    path: name.into(),
                    expected: leaf.kind.name().to_string(),
                    found: n.to_string(),
                }])
            }
        },
    };
    match fit(&slot, kind, &*record.value) {
        Ok(Fit::Same) => Ok(record.value),
        Ok(Fit::Convert) => {
            let found = describe(&*record.value);
            leaf.value.from_array_owned(record.value).ok_or_else(|| {
                vec![Error::TypeMismatch {
                    path: name.into(),
                    expected: short_type_name(leaf.value.type_name()),
                    found: format!("a tensor ({found})"),
                }]
            })
        }
        Err(misfit) => Err(misfit.errors(&slot, kind, &*record.value, name)),
    }
}
