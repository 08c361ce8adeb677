//! Flax-style printing of Variables and States.

use std::fmt::{self, Write};

use crate::kind::Kind;
use crate::metadata::Metadata;
use crate::repr;
use crate::value::{python_repr, Value};

/// Writes a Variable as Flax prints it, its lines after the first indented by
/// `indent` spaces:
///
/// ```text
/// Param( # 3 (12 B)
///   value=Array([0., 0., 0.], dtype=float32),
///   axis_names=('a',)
/// )
/// ```
pub(crate) fn fmt_variable(
    f: &mut dyn Write,
    kind: Kind,
    value: &dyn Value,
    metadata: &Metadata,
    indent: usize,
) -> fmt::Result {
    let pad = " ".repeat(indent + 2);
    f.write_str(kind.name())?;
    f.write_char('(')?;
    if let Some((count, bytes)) = value.size_bytes().filter(|(n, _)| *n > 0) {
        write!(f, " {}", repr::fmt_size_comment(count, bytes))?;
    }
    f.write_char('\n')?;
    write!(f, "{pad}value=")?;
    write_indented(f, &python_repr(value), &pad)?;
    for (name, v) in metadata.iter() {
        write!(f, ",\n{pad}{name}=")?;
        write_indented(f, &v.to_string(), &pad)?;
    }
    write!(f, "\n{})", " ".repeat(indent))
}

/// Writes `text`, indenting every line after the first by `pad`.
fn write_indented(f: &mut dyn Write, text: &str, pad: &str) -> fmt::Result {
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            write!(f, "\n{pad}")?;
        }
        f.write_str(line)?;
    }
    Ok(())
}
