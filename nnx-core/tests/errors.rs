//! Errors keep their sources, name value types as users write them, and print
//! paths so that different paths never look alike.

use std::error::Error as _;

use ndarray::{arr1, arr2, Array1, Array2, ArrayD, IxDyn};
use nnx_core::prelude::*;
use nnx_core::{path_string, AnyVariable, Error, PureDict, Tree};

fn temp_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("nnx-errors-{}-{name}", std::process::id()))
}

#[test]
fn io_errors_keep_the_io_error_as_source() {
    let missing = temp_file("missing-dir").join("model.safetensors");
    let err = nnx_core::checkpoint::load_state(&missing).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    let io = err
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the io::Error is the source");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    // The message is the operating system's, not a Debug dump of it.
    assert!(err.to_string().ends_with(&io.to_string()), "{err}");
    assert!(!err.to_string().contains("Os {"), "{err}");
}

#[test]
fn parser_errors_keep_their_source() {
    // An 8-byte header length, then a header that is not JSON.
    let mut bytes = 4u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{oops");
    let err = nnx_core::checkpoint::load_state_from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, Error::Checkpoint { .. }), "{err}");
    let source = err.source().expect("the parser's error is the source");
    assert!(err.to_string().contains(&source.to_string()), "{err}");
}

#[test]
fn errors_without_a_cause_have_no_source() {
    let err = Error::invalid_argument("rate", "a value in [0, 1)", "2");
    assert!(err.source().is_none());
}

#[test]
fn messages_print_lists_not_debug_output() {
    let mut rngs = nnx_core::rngs::Rngs::from_streams([("params", 0)]);
    let err = rngs.stream("dropout").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no random stream 'dropout': expected one of ['params'] or a 'default' stream"
    );
    let v = vec![Param::new(1.0f32), Param::new(2.0f32)];
    let err = v.split(nnx_core::Cache).unwrap_err();
    assert_eq!(
        err.to_string(),
        "non-exhaustive filters: expected every Variable to match a filter, found unmatched paths 0, 1"
    );
}

fn one_leaf(path: &'static str, value: impl Value) -> State {
    State::from_flat(vec![(
        vec![Key::from(path)],
        VariableState::new(Param, value),
    )])
    .unwrap()
}

fn pure(path: &'static str, value: impl Value) -> PureDict {
    Tree::from_flat(vec![(
        vec![Key::from(path)],
        std::sync::Arc::new(value) as std::sync::Arc<dyn Value>,
    )])
}

#[test]
fn value_types_print_as_users_write_them() {
    let mut s = one_leaf("w", Array2::<f32>::zeros((2, 2)));
    let err = s
        .replace_by_pure_dict(&pure("w", arr1(&[1.0f32, 2.0])))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "type mismatch at w: expected Array2<f32>, found Array1<f32>"
    );
    let err = s
        .replace_by_pure_dict(&pure("w", ArrayD::<f32>::zeros(IxDyn(&[2, 2]))))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "type mismatch at w: expected Array2<f32>, found ArrayD<f32>"
    );

    let mut v = nnx_core::Variable::with_kind(Param, 1.0f32);
    let err = v
        .update_from(&VariableState::new(Param, Array1::<i32>::zeros(1)), "w")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "dtype mismatch at w: expected float32, found int32"
    );
    let err = v
        .update_from(&VariableState::new(Param, vec![1.0f32]), "w")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "type mismatch at w: expected f32, found Vec<f32>"
    );
}

#[test]
fn a_wrong_dtype_is_a_dtype_mismatch_in_update_and_load() {
    // Update-like replacement of a State's leaf.
    let mut s = one_leaf("w", arr2(&[[1.0f32]]));
    let update_err = s
        .replace_by_pure_dict(&pure("w", arr2(&[[1.0f64]])))
        .unwrap_err();
    // Loading a checkpoint saved with f64 into the f32 model.
    #[derive(Module)]
    struct M {
        w: Param<Array2<f32>>,
    }
    let mut model = M {
        w: Param::new(arr2(&[[1.0f32]])),
    };
    let file = temp_file("f64.safetensors");
    nnx_core::checkpoint::save_state(&one_leaf("w", arr2(&[[1.0f64]])), &file).unwrap();
    let load_err = nnx_core::checkpoint::load_into(&mut model, &file).unwrap_err();
    std::fs::remove_file(&file).ok();
    let expected = "dtype mismatch at w: expected float32, found float64";
    assert_eq!(update_err.to_string(), expected);
    assert_eq!(load_err.to_string(), expected);
}

#[test]
fn string_and_integer_keys_print_differently() {
    let int = [Key::from("layers"), Key::from(0usize)];
    let string = [Key::from("layers"), Key::from("0")];
    assert_eq!(path_string(&int), "layers/0");
    assert_eq!(path_string(&string), "layers/'0'");
    // A key holding a slash is not two keys.
    assert_ne!(
        path_string(&[Key::from("a/b")]),
        path_string(&[Key::from("a"), Key::from("b")])
    );
    // The difference reaches error messages.
    let mut s = one_leaf("0", 1.0f32);
    let err = s.replace_by_pure_dict(&pure("0", 1u8)).unwrap_err();
    assert!(err.to_string().contains(" at '0': "), "{err}");
}
