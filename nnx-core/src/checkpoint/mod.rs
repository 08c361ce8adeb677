//! Checkpoints: [`State`]s and modules saved as [safetensors] files.
//!
//! # Format
//! One tensor per Variable, named by its dotted path (`encoder.layers.0.kernel`),
//! of dtype `F32`, `F64`, `I32`, `I64`, `U8`, `U32` or `BOOL`; scalars are 0-d
//! tensors. The safetensors `__metadata__` header (a string map) has one key,
//! `"nnx"`, whose value is a JSON object with one entry per tensor name,
//! `{"type": "Param", "path": ["encoder", "layers", 0, "kernel"], "metadata": {...}}`
//! (plus `"scalar": true` for Rust scalars), so that a round trip restores the
//! Variable type, the exact path and the metadata. (One key rather than one per
//! tensor: safetensors writes `__metadata__` in hash order, so this keeps the
//! bytes of a checkpoint deterministic.) Metadata values are encoded
//! losslessly: `null`, bools, ints, floats (`1.0`; non-finite ones as
//! `{"float": "nan"}`), strings, lists as arrays and tuples as `{"tuple": [...]}`.
//!
//! Files written by other tools load too: a tensor without an entry is a
//! [`Variable`](const@crate::Variable) with no metadata, at the path given by splitting
//! its name at `.` (all-digit parts become indices).
//!
//! Values that are not one array or scalar (the tuples `sow` stores, for
//! example) cannot be saved: saving them is an [`Error::Checkpoint`] naming
//! their path. Filter them out first (`state.filter(Param)`).
//!
//! # Loading
//! [`load_state`] gives dynamic-rank `ndarray::ArrayD<T>` values (and the Rust
//! scalar type for Variables saved from scalars). To load into a module whose
//! fields are typed (`Param<Array2<f32>>`), use [`load_into`]: it checks every
//! path, Variable type, dtype and shape against the module and converts each
//! value to the field's own type with [`Value::from_array_owned`].
//!
//! Hostile files give an `Err`, never a panic: the header is bounded
//! ([`MAX_HEADER_BYTES`]) and validated by the `safetensors` crate (offsets,
//! element counts against data sizes, overflow), unknown dtypes, invalid
//! `bool` bytes and bad JSON entries are rejected, and allocations never exceed
//! the size of the input.
//!
//! With the `serde` feature, `State` also implements `Serialize` and
//! `Deserialize`: a nested map of
//! `{"type": "Param", "value": {"dtype": "float32", "shape": [2], "data": [..]}, "metadata": {..}}`
//! leaves, for small states in JSON (all-digit keys read back as indices;
//! non-finite floats are the strings `"nan"`, `"inf"`, `"-inf"`).
//!
//! [safetensors]: https://huggingface.co/docs/safetensors
//!
//! ```
//! use nnx_core::prelude::*;
//! use nnx_core::checkpoint;
//! let state = State::from_flat(vec![(
//!     vec![Key::from("kernel")],
//!     VariableState::new(Param, ndarray::arr2(&[[1.0f32, 2.0]])),
//! )]).unwrap();
//! let bytes = checkpoint::save_state_to_bytes(&state).unwrap();
//! let loaded = checkpoint::load_state_from_bytes(&bytes).unwrap();
//! let leaf = loaded.leaf(&[Key::from("kernel")]).unwrap();
//! assert_eq!(leaf.kind, Param);
//! assert_eq!(leaf.value.shape_of(), Some(vec![1, 2]));
//! ```

mod decode;
mod meta;
mod module;
#[cfg(feature = "serde")]
mod serde_state;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::Path as FsPath;
use std::sync::Arc;

use ndarray::ArrayViewD;
use safetensors::tensor::{Dtype, Metadata as StMetadata, TensorInfo};

use crate::builtin;
use crate::error::{Error, ErrorSource, Result};
use crate::kind::Kind;
use crate::state::State;
use crate::value::{short_type_name, ArrayRef, DType, Value};

pub use module::{
    load_into, load_into_from_bytes_with, load_into_with, save, LoadOptions, LoadReport,
};

/// The largest safetensors JSON header accepted, in bytes (64 MiB): far above
/// what millions of tensors need, and a bound on what a hostile header can
/// make the loader allocate before anything is validated.
///
/// ```
/// assert_eq!(nnx_core::checkpoint::MAX_HEADER_BYTES, 64 * 1024 * 1024);
/// ```
pub const MAX_HEADER_BYTES: usize = 64 << 20;

/// The built-in Variable types by name (`"Param"` → [`Param`](const@crate::Param)):
/// the default resolver of [`load_state_with`].
///
/// ```
/// assert_eq!(nnx_core::checkpoint::builtin_kind("BatchStat"), Some(nnx_core::BatchStat));
/// assert_eq!(nnx_core::checkpoint::builtin_kind("Mine"), None);
/// ```
pub fn builtin_kind(name: &str) -> Option<Kind> {
    Some(match name {
        "Variable" => crate::variable::Variable,
        "Param" => builtin::Param,
        "BatchStat" => builtin::BatchStat,
        "Cache" => builtin::Cache,
        "Intermediate" => builtin::Intermediate,
        "Perturbation" => builtin::Perturbation,
        "RngState" => builtin::RngState,
        "RngKey" => builtin::RngKey,
        "RngCount" => builtin::RngCount,
        _ => return None,
    })
}

fn checkpoint_error(
    path: impl Into<String>,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Error {
    Error::Checkpoint {
        path: path.into().into(),
        expected: expected.into(),
        found: found.into(),
        source: None,
    }
}

/// A checkpoint error caused by `source` (a parser's error), which it keeps.
fn checkpoint_error_from(
    path: impl Into<String>,
    expected: impl Into<String>,
    source: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::Checkpoint {
        path: path.into().into(),
        expected: expected.into(),
        found: source.to_string(),
        source: Some(ErrorSource::new(source)),
    }
}

fn io_error(file: &FsPath, op: &str, e: std::io::Error) -> Error {
    Error::Io {
        path: file.display().to_string().into(),
        expected: op.to_string(),
        source: ErrorSource::new(e),
    }
}

fn st_dtype(d: DType) -> Dtype {
    match d {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::I32 => Dtype::I32,
        DType::I64 => Dtype::I64,
        DType::U8 => Dtype::U8,
        DType::U32 => Dtype::U32,
        DType::Bool => Dtype::BOOL,
    }
}

/// One Variable ready to be written: its value is encoded to bytes only when
/// the file is written, a chunk at a time.
struct TensorOut {
    dtype: Dtype,
    shape: Vec<usize>,
    len: usize,
    value: Arc<dyn Value>,
}

/// Bytes encoded per write: small enough to stay in cache between the
/// encoding and the write, large enough that writes are few.
const WRITE_CHUNK: usize = 256 * 1024;

/// The file layout of `tensors`: the 8-byte header length and the JSON header
/// (padded with spaces to a multiple of 8 bytes, as the `safetensors` crate
/// writes it), and the tensors in file order: descending alignment, then name,
/// the crate's own order, so files are byte-identical to its writer's.
fn layout(
    mut tensors: Vec<(String, TensorOut)>,
    header: HashMap<String, String>,
) -> Result<(Vec<u8>, Vec<TensorOut>)> {
    tensors.sort_by(|(ln, l), (rn, r)| r.dtype.cmp(&l.dtype).then_with(|| ln.cmp(rn)));
    let mut offset = 0;
    let mut infos = Vec::with_capacity(tensors.len());
    let mut out = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let info = TensorInfo {
            dtype: t.dtype,
            shape: t.shape.clone(),
            data_offsets: (offset, offset + t.len),
        };
        offset += t.len;
        infos.push((name, info));
        out.push(t);
    }
    let meta = StMetadata::new(Some(header), infos).map_err(st_error)?;
    let mut json = serde_json::to_vec(&meta)
        .map_err(|e| checkpoint_error_from("<header>", "a header encodable as JSON", e))?;
    json.resize(json.len().next_multiple_of(8), b' ');
    if json.len() > MAX_HEADER_BYTES {
        return Err(checkpoint_error(
            "<header>",
            format!("a JSON header of at most {MAX_HEADER_BYTES} bytes"),
            format!("{} bytes", json.len()),
        ));
    }
    let mut head = Vec::with_capacity(8 + json.len());
    head.extend_from_slice(&(json.len() as u64).to_le_bytes());
    head.extend_from_slice(&json);
    Ok((head, out))
}

/// Writes the header and every tensor's bytes: an array's own memory when it
/// already is the file's bytes, otherwise encoded chunk by chunk into one reused
/// buffer (never a copy of a whole tensor).
fn write_all(w: &mut impl Write, head: &[u8], tensors: &[TensorOut]) -> std::io::Result<()> {
    w.write_all(head)?;
    let mut buf = vec![0u8; WRITE_CHUNK];
    for t in tensors {
        if let Some(r) = t.value.array_ref() {
            write_le(w, &r, &mut buf)?;
        }
    }
    Ok(())
}

/// Writes the elements of `r` in row-major order, little-endian (safetensors'
/// byte order); `bool` as one byte 0/1.
fn write_le(w: &mut impl Write, r: &ArrayRef<'_>, buf: &mut [u8]) -> std::io::Result<()> {
    match r {
        ArrayRef::F32(v) => write_pod(w, v, buf, f32::to_le_bytes),
        ArrayRef::F64(v) => write_pod(w, v, buf, f64::to_le_bytes),
        ArrayRef::I32(v) => write_pod(w, v, buf, i32::to_le_bytes),
        ArrayRef::I64(v) => write_pod(w, v, buf, i64::to_le_bytes),
        ArrayRef::U8(v) => write_pod(w, v, buf, u8::to_le_bytes),
        ArrayRef::U32(v) => write_pod(w, v, buf, u32::to_le_bytes),
        ArrayRef::Bool(v) => write_view(w, v, buf, |b: bool| [u8::from(b)]),
    }
}

/// [`write_view`] for a plain number type: on little-endian targets a
/// contiguous array's memory already is the file's bytes, written with no
/// encoding pass (in [`WRITE_CHUNK`] pieces: one write per tensor measured
/// more kernel time).
fn write_pod<T: bytemuck::Pod, const N: usize>(
    w: &mut impl Write,
    v: &ArrayViewD<'_, T>,
    buf: &mut [u8],
    f: impl Fn(T) -> [u8; N],
) -> std::io::Result<()> {
    match v.as_slice() {
        Some(s) if cfg!(target_endian = "little") => {
            for part in bytemuck::cast_slice(s).chunks(WRITE_CHUNK) {
                w.write_all(part)?;
            }
            Ok(())
        }
        _ => write_view(w, v, buf, f),
    }
}

fn write_view<T: Copy, const N: usize>(
    w: &mut impl Write,
    v: &ArrayViewD<'_, T>,
    buf: &mut [u8],
    f: impl Fn(T) -> [u8; N],
) -> std::io::Result<()> {
    let per = buf.len() / N;
    match v.as_slice() {
        Some(s) => {
            for part in s.chunks(per) {
                let out = &mut buf[..part.len() * N];
                encode(out, part.iter().copied(), &f);
                w.write_all(out)?;
            }
        }
        None => {
            let mut it = v.iter().copied();
            let mut left = v.len();
            while left > 0 {
                let count = left.min(per);
                let out = &mut buf[..count * N];
                encode(out, it.by_ref(), &f);
                w.write_all(out)?;
                left -= count;
            }
        }
    }
    Ok(())
}

/// Fills `out` with the encoded elements (a plain loop over fixed-size chunks,
/// which compiles to vector moves for the little-endian types).
fn encode<T, const N: usize>(
    out: &mut [u8],
    xs: impl Iterator<Item = T>,
    f: &impl Fn(T) -> [u8; N],
) {
    for (d, x) in out.chunks_exact_mut(N).zip(xs) {
        d.copy_from_slice(&f(x));
    }
}

fn is_rust_scalar(v: &dyn Value) -> bool {
    let a = v.as_any();
    a.is::<f32>()
        || a.is::<f64>()
        || a.is::<i32>()
        || a.is::<i64>()
        || a.is::<u8>()
        || a.is::<u32>()
        || a.is::<bool>()
}

/// The tensors and `__metadata__` entries of a State, or an error naming every
/// leaf that cannot be saved.
type Prepared = (Vec<(String, TensorOut)>, HashMap<String, String>);

/// The `__metadata__` key holding the per-tensor entries.
pub(crate) const ENTRIES_KEY: &str = "nnx";

fn prepare(state: &State) -> Result<Prepared> {
    let mut tensors = Vec::new();
    let mut entries = std::collections::BTreeMap::new();
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    for (path, leaf) in state.flat_state().into_inner() {
        let name = meta::dotted(&path);
        // The stored tensor is the value's data view: an array's own dtype and
        // shape, or a key's raw uint32 data.
        let Some(r) = leaf.value.array_ref() else {
            errors.push(checkpoint_error(
                name,
                "a single array or scalar",
                format!(
                    "a value of type {}",
                    short_type_name(leaf.value.type_name())
                ),
            ));
            continue;
        };
        if !names.insert(name.clone()) {
            // Two paths with one dotted name ("a.b" vs a/b, "0" vs 0): the file
            // could not tell them apart.
            errors.push(checkpoint_error(
                name,
                "tensor names unique after joining path keys with '.'",
                "a second path with this name",
            ));
            continue;
        }
        let entry = meta::Entry {
            kind: leaf.kind.name().to_string(),
            path: path.iter().map(meta::JsonKey::from).collect(),
            metadata: meta::metadata_to_json(&leaf.metadata),
            scalar: is_rust_scalar(&*leaf.value),
        };
        entries.insert(name.clone(), entry);
        let (dtype, shape) = (r.dtype(), r.shape().to_vec());
        let len = r.len() * dtype.size();
        tensors.push((
            name,
            TensorOut {
                dtype: st_dtype(dtype),
                shape,
                len,
                value: leaf.value.clone(),
            },
        ));
    }
    let json = serde_json::to_string(&entries)
        .map_err(|e| checkpoint_error_from("<header>", "metadata encodable as JSON", e))?;
    let header = HashMap::from([(ENTRIES_KEY.to_string(), json)]);
    if errors.is_empty() {
        Ok((tensors, header))
    } else {
        Err(crate::Error::many(errors))
    }
}

trait ArrayRefLen {
    fn len(&self) -> usize;
}

impl ArrayRefLen for ArrayRef<'_> {
    fn len(&self) -> usize {
        match self {
            ArrayRef::F32(v) => v.len(),
            ArrayRef::F64(v) => v.len(),
            ArrayRef::I32(v) => v.len(),
            ArrayRef::I64(v) => v.len(),
            ArrayRef::U8(v) => v.len(),
            ArrayRef::U32(v) => v.len(),
            ArrayRef::Bool(v) => v.len(),
        }
    }
}

fn st_error(e: safetensors::SafeTensorError) -> Error {
    checkpoint_error_from("<header>", "a valid safetensors file", e)
}

/// Writes `state` as a safetensors file at `path` (see the [module docs](self)
/// for the format). The file is written to a temporary sibling and renamed, so
/// an existing checkpoint is never left half-written; only one tensor's bytes
/// are held in memory at a time.
///
/// ```
/// use nnx_core::prelude::*;
/// let state = State::from_flat(vec![(vec![Key::from("w")], VariableState::new(Param, 1.5f32))]).unwrap();
/// let file = std::env::temp_dir().join(format!("nnx-doc-save-{}.safetensors", std::process::id()));
/// nnx_core::checkpoint::save_state(&state, &file).unwrap();
/// assert_eq!(nnx_core::checkpoint::load_state(&file).unwrap(), state);
/// # std::fs::remove_file(&file).ok();
/// ```
pub fn save_state(state: &State, path: impl AsRef<FsPath>) -> Result<()> {
    let path = path.as_ref();
    let (tensors, header) = prepare(state)?;
    let (head, tensors) = layout(tensors, header)?;
    // A sibling temporary file renamed over `path`: an existing checkpoint is
    // never left half-written.
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => FsPath::new("."),
    };
    let temp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| io_error(path, "create a temporary file beside it", e))?;
    write_all(&mut temp.as_file(), &head, &tensors)
        .map_err(|e| io_error(path, "write the file", e))?;
    temp.persist(path)
        .map_err(|e| io_error(path, "replace the file", e.error))?;
    Ok(())
}

/// The bytes of the safetensors file [`save_state`] writes.
///
/// ```
/// use nnx_core::prelude::*;
/// let state = State::from_flat(vec![(vec![Key::from("n")], VariableState::new(BatchStat, 3i64))]).unwrap();
/// let bytes = nnx_core::checkpoint::save_state_to_bytes(&state).unwrap();
/// assert_eq!(nnx_core::checkpoint::load_state_from_bytes(&bytes).unwrap(), state);
/// ```
pub fn save_state_to_bytes(state: &State) -> Result<Vec<u8>> {
    let (tensors, header) = prepare(state)?;
    let (head, tensors) = layout(tensors, header)?;
    let total = head.len() + tensors.iter().map(|t| t.len).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    write_all(&mut out, &head, &tensors)
        .map_err(|e| checkpoint_error_from("<data>", "bytes written to memory", e))?;
    Ok(out)
}

/// Reads the State saved at `path`, resolving Variable types with
/// [`builtin_kind`]. Values are `ndarray::ArrayD<T>` (dynamic rank) of the
/// tensor's dtype, or the Rust scalar type for Variables saved from scalars.
///
/// The file is read tensor by tensor straight into the arrays, so loading
/// needs about one copy of the data. Measured with
/// `tools/bench_checkpoint_rss.sh` (release build): 514 MiB peak RSS to load a
/// 512 MiB checkpoint of four f32 arrays (and 514 MiB to save it).
///
/// ```
/// use nnx_core::prelude::*;
/// let state = State::from_flat(vec![(
///     vec![Key::from("layers"), Key::from(0usize), Key::from("b")],
///     VariableState::new(Param, ndarray::Array1::<f64>::zeros(2)),
/// )]).unwrap();
/// let file = std::env::temp_dir().join(format!("nnx-doc-load-{}.safetensors", std::process::id()));
/// nnx_core::checkpoint::save_state(&state, &file).unwrap();
/// let loaded = nnx_core::checkpoint::load_state(&file).unwrap();
/// let leaf = loaded.leaf(&[Key::from("layers"), Key::from(0usize), Key::from("b")]).unwrap();
/// assert!(leaf.value.as_any().is::<ndarray::ArrayD<f64>>());
/// # std::fs::remove_file(&file).ok();
/// ```
///
/// Restoring the Flax way: `update` and `merge` give each loaded value the type
/// its field declares when dtype and shape agree (an `ArrayD<f32>` of shape
/// `(2, 3)` becomes the field's `Array2<f32>`, raw key data a key):
///
/// ```
/// use nnx_core::prelude::*;
/// use ndarray::{Array1, Array2};
/// #[derive(Module)]
/// struct Dense { kernel: Param<Array2<f32>>, bias: Param<Array1<f32>>, rngs: Rngs }
/// let dense = |x: f32| Dense {
///     kernel: Param::new(Array2::from_elem((2, 3), x)),
///     bias: Param::new(Array1::from_elem(3, x)),
///     rngs: Rngs::new(0),
/// };
/// let file = std::env::temp_dir().join(format!("nnx-doc-restore-{}.safetensors", std::process::id()));
/// nnx_core::checkpoint::save(&dense(7.0), &file)?;
///
/// let st = nnx_core::checkpoint::load_state(&file)?;
/// let mut model = dense(0.0);
/// model.update(st.clone())?;
/// assert_eq!(model.kernel[[1, 2]], 7.0);
/// let merged: Dense = model.graphdef().merge(st.clone())?;
/// assert_eq!(merged.bias[0], 7.0);
///
/// // A real mismatch is still an error, and nothing changes.
/// let mut wide = Dense { kernel: Param::new(Array2::zeros((2, 4))), ..dense(0.0) };
/// let err = wide.update(st).unwrap_err();
/// assert_eq!(err.to_string(), "shape mismatch at kernel: expected (2, 4), found (2, 3)");
/// # std::fs::remove_file(&file).ok();
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn load_state(path: impl AsRef<FsPath>) -> Result<State> {
    load_state_with(path, &builtin_kind)
}

/// [`load_state`] with a resolver from Variable type names to kinds, for
/// checkpoints holding user-defined Variable types. An unknown name is an
/// [`Error::Checkpoint`] naming the tensor.
///
/// ```
/// use nnx_core::{Kind, KindInfo};
/// use nnx_core::prelude::*;
/// static MINE: KindInfo = KindInfo::new("Mine", Some(nnx_core::Param.info()), None);
/// let mine = Kind::from_static(&MINE);
/// let state = State::from_flat(vec![(vec![Key::from("w")], VariableState::new(mine, 1u8))]).unwrap();
/// let file = std::env::temp_dir().join(format!("nnx-doc-with-{}.safetensors", std::process::id()));
/// nnx_core::checkpoint::save_state(&state, &file).unwrap();
/// assert!(nnx_core::checkpoint::load_state(&file).is_err());
/// let resolve = |n: &str| if n == "Mine" { Some(mine) } else { nnx_core::checkpoint::builtin_kind(n) };
/// assert_eq!(nnx_core::checkpoint::load_state_with(&file, &resolve).unwrap(), state);
/// # std::fs::remove_file(&file).ok();
/// ```
pub fn load_state_with(
    path: impl AsRef<FsPath>,
    resolver: &dyn Fn(&str) -> Option<Kind>,
) -> Result<State> {
    records_to_state(decode::read_file(path.as_ref())?, resolver)
}

/// Reads a State from the bytes of a safetensors file (see [`load_state`]).
/// Any input, however corrupt, gives a State or an `Err`.
///
/// ```
/// assert!(nnx_core::checkpoint::load_state_from_bytes(b"not a checkpoint").is_err());
/// ```
pub fn load_state_from_bytes(bytes: &[u8]) -> Result<State> {
    load_state_from_bytes_with(bytes, &builtin_kind)
}

/// [`load_state_from_bytes`] with a resolver of Variable type names (see
/// [`load_state_with`]).
///
/// ```
/// let none = |_: &str| None;
/// let empty = nnx_core::checkpoint::save_state_to_bytes(&nnx_core::State::new()).unwrap();
/// assert!(nnx_core::checkpoint::load_state_from_bytes_with(&empty, &none).unwrap().is_empty());
/// ```
pub fn load_state_from_bytes_with(
    bytes: &[u8],
    resolver: &dyn Fn(&str) -> Option<Kind>,
) -> Result<State> {
    records_to_state(decode::read_bytes(bytes)?, resolver)
}

fn records_to_state(
    records: Vec<decode::Record>,
    resolver: &dyn Fn(&str) -> Option<Kind>,
) -> Result<State> {
    let n = records.len();
    let mut leaves = Vec::with_capacity(n);
    for r in records {
        let kind = match &r.kind {
            None => crate::variable::Variable,
            Some(name) => resolver(name).ok_or_else(|| {
                checkpoint_error(
                    r.name.clone(),
                    "a known Variable type (pass a resolver for your own)",
                    format!("type {name:?}"),
                )
            })?,
        };
        let leaf = crate::variable::VariableState {
            kind,
            value: r.value,
            metadata: r.metadata,
            hooks: None,
        };
        leaves.push((r.path, leaf));
    }
    // A tensor path that is a prefix of another ("a" and "a.b") is an error here.
    let state = State::from_flat(leaves).map_err(|e| {
        checkpoint_error(
            "<header>",
            "no tensor path that is a prefix of another",
            e.to_string(),
        )
    })?;
    if state.len() != n {
        // Two tensors name the same path: one would be lost.
        return Err(checkpoint_error(
            "<header>",
            "one tensor per path",
            format!("{n} tensors on {} distinct leaves", state.len()),
        ));
    }
    Ok(state)
}
