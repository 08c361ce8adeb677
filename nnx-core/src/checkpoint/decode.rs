//! Reading safetensors data into Variables' values.
//!
//! Both sources (a byte slice, a file) go through the same path: the
//! `safetensors` crate parses and validates the header, then each tensor's bytes
//! are read in small chunks straight into the `Vec` that becomes the array, so
//! the only copy of the data made is the array itself.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path as FsPath;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, Metadata as StMetadata, TensorInfo};
use safetensors::SafeTensors;
use serde_json::value::RawValue;

use super::meta::{self, Entry};
use super::{checkpoint_error, checkpoint_error_from, io_error, st_error, MAX_HEADER_BYTES};
use crate::error::{Error, Result};
use crate::key::Path;
use crate::metadata::Metadata;
use crate::repr::fmt_tuple_usize;
use crate::value::Value;

/// One tensor read from a checkpoint, with what its header entry says.
pub(crate) struct Record {
    /// The tensor's name (dotted path).
    pub name: String,
    pub path: Path,
    /// The Variable type's name, when the file has an entry for the tensor.
    pub kind: Option<String>,
    pub metadata: Metadata,
    pub value: Arc<dyn Value>,
}

const N_LEN: usize = 8;

/// Reads every tensor of a safetensors byte buffer.
pub(crate) fn read_bytes(bytes: &[u8]) -> Result<Vec<Record>> {
    check_header_len(bytes.get(..N_LEN), bytes.len() as u64)?;
    let (n, metadata) = SafeTensors::read_metadata(bytes).map_err(st_error)?;
    let data = bytes
        .get(N_LEN + n..)
        .ok_or_else(|| truncated(bytes.len() as u64))?;
    records(&metadata, |info, pos, buf| {
        let start = info.data_offsets.0.checked_add(pos);
        let src = start
            .and_then(|s| data.get(s..s.checked_add(buf.len())?))
            .ok_or_else(|| truncated(bytes.len() as u64))?;
        buf.copy_from_slice(src);
        Ok(())
    })
}

/// Reads every tensor of a safetensors file, without holding the whole file in
/// memory.
pub(crate) fn read_file(path: &FsPath) -> Result<Vec<Record>> {
    let mut file = File::open(path).map_err(|e| io_error(path, "open the file", e))?;
    let file_len = file
        .metadata()
        .map_err(|e| io_error(path, "read the file's size", e))?
        .len();
    let mut len_bytes = [0u8; N_LEN];
    if file_len < N_LEN as u64 {
        return Err(truncated(file_len));
    }
    file.read_exact(&mut len_bytes)
        .map_err(|e| io_error(path, "read the header", e))?;
    let n = check_header_len(Some(&len_bytes), file_len)?;
    let mut header = vec![0u8; n];
    file.read_exact(&mut header)
        .map_err(|e| io_error(path, "read the header", e))?;
    // The crate's own header type: its deserializer validates offsets, element
    // counts and overflow, as `SafeTensors::read_metadata` does for buffers.
    let metadata: StMetadata = serde_json::from_slice(&header)
        .map_err(|e| checkpoint_error_from("<header>", "a valid safetensors JSON header", e))?;
    drop(header);
    let data_start = (N_LEN + n) as u64;
    if data_start + metadata.data_len() as u64 != file_len {
        return Err(checkpoint_error(
            "<data>",
            format!(
                "{} bytes of tensor data after the header",
                metadata.data_len()
            ),
            format!("{} bytes", file_len - data_start),
        ));
    }
    // Tensors are read in offset order, so seeking is only needed when the
    // position is not already right.
    let mut at = data_start;
    records(&metadata, |info, pos, buf| {
        let want = data_start + (info.data_offsets.0 + pos) as u64;
        if want != at {
            file.seek(SeekFrom::Start(want))
                .map_err(|e| io_error(path, "seek to tensor data", e))?;
        }
        file.read_exact(buf)
            .map_err(|e| io_error(path, "read tensor data", e))?;
        at = want + buf.len() as u64;
        Ok(())
    })
}

fn truncated(len: u64) -> Error {
    checkpoint_error(
        "<header>",
        "an 8-byte header length and a JSON header",
        format!("{len} bytes in all"),
    )
}

/// The JSON header's length from the first 8 bytes, bounded by
/// [`MAX_HEADER_BYTES`] and by the input's size, before anything is allocated.
fn check_header_len(first: Option<&[u8]>, total: u64) -> Result<usize> {
    let Some(Ok(first)) = first.map(<[u8; N_LEN]>::try_from) else {
        return Err(truncated(total));
    };
    let n = u64::from_le_bytes(first);
    if n > MAX_HEADER_BYTES as u64 {
        return Err(checkpoint_error(
            "<header>",
            format!("a JSON header of at most {MAX_HEADER_BYTES} bytes"),
            format!("{n} bytes"),
        ));
    }
    if n + N_LEN as u64 > total {
        return Err(checkpoint_error(
            "<header>",
            format!("a JSON header of {n} bytes"),
            format!(
                "{} bytes after the length",
                total.saturating_sub(N_LEN as u64)
            ),
        ));
    }
    Ok(n as usize)
}

/// Decodes every tensor in offset order; `read(info, pos, buf)` fills `buf`
/// from the tensor's bytes starting `pos` bytes into it.
fn records(
    metadata: &StMetadata,
    mut read: impl FnMut(&TensorInfo, usize, &mut [u8]) -> Result<()>,
) -> Result<Vec<Record>> {
    let mut entries = parse_entries(metadata)?;
    let mut out = Vec::new();
    for name in metadata.offset_keys() {
        let Some(info) = metadata.info(&name) else {
            continue;
        };
        let entry = match entries.remove(&name) {
            None => None,
            Some(raw) => Some(parse_entry(&name, raw.get())?),
        };
        let (path, kind, md, scalar) = match entry {
            Some(e) => {
                let md = meta::metadata_from_json(&e.metadata)
                    .map_err(|m| checkpoint_error(name.clone(), "valid metadata JSON", m))?;
                let path: Path = e.path.into_iter().map(Into::into).collect();
                if meta::dotted(&path) != name {
                    return Err(checkpoint_error(
                        name.clone(),
                        "an entry whose path joins to the tensor's name",
                        format!("path '{}'", meta::dotted(&path)),
                    ));
                }
                (path, Some(e.kind), md, e.scalar)
            }
            None => (meta::path_of_name(&name), None, Metadata::new(), false),
        };
        if scalar && !info.shape.is_empty() {
            return Err(checkpoint_error(
                name,
                "a 0-d tensor for a scalar",
                format!("shape {}", fmt_tuple_usize(&info.shape)),
            ));
        }
        let value = decode_tensor(&name, info, scalar, |pos, buf| read(info, pos, buf))?;
        out.push(Record {
            name,
            path,
            kind,
            metadata: md,
            value,
        });
    }
    if let Some(name) = entries.keys().next() {
        return Err(checkpoint_error(
            name.clone(),
            "an entry only for tensors the file has",
            "an entry without a tensor",
        ));
    }
    Ok(out)
}

/// The per-tensor entries, still as raw JSON so that each one's error can name
/// its tensor. No `nnx` key (a file from another tool): no entries.
fn parse_entries(metadata: &StMetadata) -> Result<BTreeMap<String, Box<RawValue>>> {
    let Some(text) = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(super::ENTRIES_KEY))
    else {
        return Ok(BTreeMap::new());
    };
    serde_json::from_str(text).map_err(|e| {
        checkpoint_error_from(
            "<header>",
            format!(
                "a JSON object of per-tensor entries under __metadata__.{}",
                super::ENTRIES_KEY
            ),
            e,
        )
    })
}

fn parse_entry(name: &str, text: &str) -> Result<Entry> {
    serde_json::from_str(text).map_err(|e| {
        checkpoint_error_from(
            name,
            r#"a JSON entry {"type": ..., "path": [...], "metadata": {...}}"#,
            e,
        )
    })
}

/// Bytes read per chunk: a multiple of every element size, small enough to stay
/// in cache between the read and the conversion into the array.
const CHUNK: usize = 256 * 1024;

fn decode_tensor(
    name: &str,
    info: &TensorInfo,
    scalar: bool,
    mut read: impl FnMut(usize, &mut [u8]) -> Result<()>,
) -> Result<Arc<dyn Value>> {
    macro_rules! arr {
        ($t:ty) => {{
            let v = read_vec(name, &info.shape, &mut read, <$t>::from_le_bytes)?;
            finish(name, &info.shape, v, scalar)
        }};
    }
    match info.dtype {
        Dtype::F32 => arr!(f32),
        Dtype::F64 => arr!(f64),
        Dtype::I32 => arr!(i32),
        Dtype::I64 => arr!(i64),
        Dtype::U8 => arr!(u8),
        Dtype::U32 => arr!(u32),
        Dtype::BOOL => {
            let bytes = read_vec(name, &info.shape, &mut read, u8::from_le_bytes)?;
            if let Some(b) = bytes.iter().find(|&&b| b > 1) {
                return Err(checkpoint_error(
                    name,
                    "bool bytes 0 or 1",
                    format!("byte {b}"),
                ));
            }
            // Same size and alignment: the collect reuses the byte buffer.
            let v: Vec<bool> = bytes.into_iter().map(|b| b == 1).collect();
            finish(name, &info.shape, v, scalar)
        }
        other => Err(checkpoint_error(
            name,
            "a tensor of dtype F32, F64, I32, I64, U8, U32 or BOOL",
            format!("dtype {other}"),
        )),
    }
}

/// The value: the array, or its one element for a Variable saved from a scalar.
fn finish<T: crate::value::Element + Copy + Value>(
    name: &str,
    shape: &[usize],
    v: Vec<T>,
    scalar: bool,
) -> Result<Arc<dyn Value>>
where
    ArrayD<T>: Value,
{
    let a = ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| {
        checkpoint_error(
            name,
            "a shape matching the element count",
            format!("shape {}: {e}", fmt_tuple_usize(shape)),
        )
    })?;
    if !scalar {
        return Ok(Arc::new(a));
    }
    match a.first() {
        Some(x) if a.ndim() == 0 => Ok(Arc::new(*x)),
        _ => Err(checkpoint_error(
            name,
            "a 0-d tensor for a scalar",
            format!("shape {}", fmt_tuple_usize(a.shape())),
        )),
    }
}

/// The elements of a tensor of `shape`, read chunk by chunk into the vector that
/// becomes the array (`conv` decodes one little-endian element).
fn read_vec<T, const N: usize>(
    name: &str,
    shape: &[usize],
    read: &mut impl FnMut(usize, &mut [u8]) -> Result<()>,
    conv: impl Fn([u8; N]) -> T,
) -> Result<Vec<T>> {
    let overflow = || {
        checkpoint_error(
            name,
            "a shape whose element count fits in memory",
            format!("shape {}", fmt_tuple_usize(shape)),
        )
    };
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(overflow)?;
    let total = count.checked_mul(N).ok_or_else(overflow)?;
    // `count * N` equals the tensor's byte range, which the header validation
    // tied to the input's length: this allocation is bounded by the input.
    let mut out = Vec::with_capacity(count);
    let mut buf = vec![0u8; CHUNK.min(total)];
    let mut pos = 0;
    while pos < total {
        let chunk = &mut buf[..CHUNK.min(total - pos)];
        read(pos, chunk)?;
        pos += chunk.len();
        // An infallible, branch-free conversion: the loop compiles to vector moves.
        out.extend(chunk.chunks_exact(N).map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            conv(b)
        }));
    }
    Ok(out)
}
