//! A [`PrngKey`] as a Variable value, printed as JAX prints a typed key array.

use std::fmt;
use std::sync::Arc;

use ndarray::{ArrayViewD, IxDyn};

use crate::random::PrngKey;
use crate::value::{ArrayRef, DType, Value};

/// A key is a scalar array of JAX's `key<fry>` dtype: it has no [`DType`] of its
/// own (it is not a numeric array), a shape of `()`, and 8 bytes of data.
///
/// ```
/// use nnx_core::random::key;
/// use nnx_core::value::{python_repr, Value};
/// let k = key(42);
/// assert_eq!(k.shape_of(), Some(vec![]));
/// assert_eq!(k.size_bytes(), Some((1, 8)));
/// assert_eq!(python_repr(&k), "Array((), dtype=key<fry>) overlaying:\n[ 0 42]");
/// assert_eq!(k.array_ref().unwrap().shape(), &[2]); // its raw data, for checkpoints
/// ```
impl Value for PrngKey {
    fn dtype(&self) -> Option<DType> {
        None
    }
    fn shape_of(&self) -> Option<Vec<usize>> {
        Some(Vec::new())
    }
    fn fmt_python(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        f.write_str("Array((), dtype=key<fry>) overlaying:\n")?;
        f.write_str(&numpy_u32_row(&self.data()))
    }
    fn size_bytes(&self) -> Option<(usize, usize)> {
        Some((1, 8))
    }
    fn map_leaves(&self, f: &dyn Fn(&dyn Value) -> Arc<dyn Value>) -> Arc<dyn Value> {
        f(self)
    }
    /// The raw key data, a `uint32` array of shape `(2,)` (JAX's `key_data`): what
    /// checkpoints store.
    fn array_ref(&self) -> Option<ArrayRef<'_>> {
        ArrayViewD::from_shape(IxDyn(&[2]), self.data_slice())
            .ok()
            .map(ArrayRef::U32)
    }
    fn from_array_like(&self, data: ArrayRef<'_>) -> Option<Arc<dyn Value>> {
        match data {
            ArrayRef::U32(v) if v.shape() == [2] => {
                Some(Arc::new(PrngKey::from_data([*v.get(0)?, *v.get(1)?])))
            }
            _ => None,
        }
    }
    fn from_value(data: Arc<dyn Value>) -> Option<Arc<Self>> {
        let template = PrngKey::from_data([0, 0]);
        crate::value::downcast_arc(template.from_array_owned(data)?).ok()
    }
}

/// A 1-D uint32 array as numpy's `str` prints it: `[ 0 42]`, every element
/// right-aligned to the widest one.
fn numpy_u32_row(data: &[u32]) -> String {
    let words: Vec<String> = data.iter().map(u32::to_string).collect();
    let width = words.iter().map(String::len).max().unwrap_or(0);
    let padded: Vec<String> = words.iter().map(|w| format!("{w:>width$}")).collect();
    format!("[{}]", padded.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::python_repr;

    #[test]
    fn keys_have_the_same_shape_as_each_other() {
        // The fast update check compares data views; a key's view is (2,), its shape ().
        let (a, b) = (crate::random::key(1), crate::random::key(2));
        assert!(crate::value::same_shape(&a, &b));
        assert!(!crate::value::same_shape(
            &ndarray::arr1(&[1u32, 2]),
            &ndarray::arr1(&[1u32])
        ));
    }

    #[test]
    fn repr_pads_like_numpy() {
        assert_eq!(
            python_repr(&PrngKey::from_data([0, 0])),
            "Array((), dtype=key<fry>) overlaying:\n[0 0]"
        );
        assert_eq!(
            python_repr(&PrngKey::from_data([3_187_376_881, 129_218_101])),
            "Array((), dtype=key<fry>) overlaying:\n[3187376881  129218101]"
        );
    }

    #[test]
    fn variable_prints_like_flax() {
        use crate::variable::VariableType;
        let mut k = crate::RngKey::new(PrngKey::from_data([0, 1]));
        k.set_metadata("tag", "dropout");
        assert_eq!(
            k.to_string(),
            "RngKey( # 1 (8 B)\n  value=Array((), dtype=key<fry>) overlaying:\n  [0 1],\n  tag='dropout'\n)"
        );
    }
}
