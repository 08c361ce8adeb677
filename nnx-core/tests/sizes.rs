//! Issue 11 item 9: every allocation sized by user input (random samplers and
//! initializers) is checked first; too large a shape is an `Err`, never a
//! "capacity overflow" panic or an allocation abort.

use nnx_core::init;
use nnx_core::random::{self, key};
use nnx_core::Error;

/// The element count fits `usize` but the bytes do not: 2^62 f32s are 2^64 bytes.
const BYTES_OVERFLOW: [usize; 2] = [1 << 31, 1 << 31];
/// The element count itself overflows.
const COUNT_OVERFLOW: [usize; 2] = [usize::MAX, 2];
/// 2^60 f32s: 4 EiB, below `isize::MAX` bytes but more than any machine can reserve.
const UNALLOCATABLE: [usize; 2] = [1 << 40, 1 << 20];

fn assert_invalid<T: std::fmt::Debug>(what: &str, r: nnx_core::Result<T>) {
    match r {
        Err(Error::InvalidArgument { found, .. }) => {
            assert!(found.contains('('), "{what}: {found}")
        }
        other => panic!("{what}: expected an InvalidArgument error, got {other:?}"),
    }
}

#[test]
fn samplers_refuse_shapes_too_large_to_allocate() {
    for shape in [BYTES_OVERFLOW, COUNT_OVERFLOW, UNALLOCATABLE] {
        let k = key(0);
        assert_invalid("normal", random::normal::<f32>(k, &shape));
        assert_invalid("uniform", random::uniform::<f64>(k, &shape, 0.0, 1.0));
        assert_invalid(
            "truncated_normal",
            random::truncated_normal::<f32>(k, -2.0, 2.0, &shape),
        );
        assert_invalid("bernoulli", random::bernoulli::<f32>(k, 0.5, &shape));
        assert_invalid("randint", random::randint(k, &shape, 0i64, 10));
        assert_invalid("gumbel", random::gumbel::<f32>(k, &shape));
        assert_invalid("bits_u8", random::bits_u8(k, &shape));
    }
    // The error names the shape.
    let err = random::normal::<f32>(key(0), &BYTES_OVERFLOW)
        .unwrap_err()
        .to_string();
    assert!(err.contains("found (2147483648, 2147483648)"), "{err}");
}

#[test]
fn initializers_refuse_shapes_too_large_to_allocate() {
    let inits: Vec<(&str, init::Init<f32>)> = vec![
        ("zeros", init::zeros()),
        ("constant", init::constant(0.5)),
        ("normal", init::normal(1.0)),
        ("orthogonal", init::orthogonal(1.0, -1)),
        ("delta_orthogonal", init::delta_orthogonal(1.0, -1)),
    ];
    for (name, f) in inits {
        for shape in [BYTES_OVERFLOW, COUNT_OVERFLOW, UNALLOCATABLE] {
            // delta_orthogonal needs rank 3 or more: prepend a unit axis.
            let shape3 = [1, shape[0], shape[1]];
            let s: &[usize] = if name == "delta_orthogonal" {
                &shape3
            } else {
                &shape
            };
            assert_invalid(name, f.init(key(0), s));
        }
    }
}

#[test]
fn ordinary_shapes_still_work() {
    assert_eq!(
        random::normal::<f32>(key(0), &[3, 4]).unwrap().shape(),
        &[3, 4]
    );
    assert_eq!(
        init::constant(2.0f32).init(key(0), &[2]).unwrap().sum(),
        4.0
    );
    assert_eq!(random::bits_u8(key(0), &[0, 1 << 40]).unwrap().len(), 0);
}
