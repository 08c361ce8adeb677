//! Plumbing shared by the layers: config setters, rank-erased views of
//! parameters, and the checks every forward pass makes on its Variables.

use nnx_core::repr::fmt_tuple_usize;
use nnx_core::{Error, Param, Result};

/// Chainable config setters, one per Flax argument. `$ctor` is an expression
/// building a `$cfg`, used in each setter's doc example. `$cfg.base = ...`
/// (or `$cfg.base.init`) sets the options in the config's field `base`
/// (options shared by several layers live in one struct there).
macro_rules! setters {
    ($cfg:ident $(<$e:ident>)? $(. $base:ident)* = $ctor:literal { $($name:ident : $t:ty),* $(,)? }) => {
        $crate::support::setters!(@impl $cfg [$($e)?] [$($base)*] $ctor { $($name : $t),* });
    };
    (@impl $cfg:ident [$($e:ident)?] $base:tt $ctor:literal { $($name:ident : $t:ty),* }) => {
        impl$(<$e: ::nnx_tensor::Element>)? $cfg$(<$e>)? {
            $(
                #[doc = concat!("Sets `", stringify!($name), "` (Flax's argument of that name).")]
                #[doc = ""]
                #[doc = "```"]
                #[doc = "let value = Default::default();"]
                #[doc = concat!("let cfg: nnx_layers::", stringify!($cfg), " = ", $ctor, ".", stringify!($name), "(Clone::clone(&value));")]
                #[doc = concat!("assert!(format!(\"{cfg:?}\").contains(&format!(\"", stringify!($name), ": {value:?}\")));")]
                #[doc = "```"]
                pub fn $name(mut self, $name: $t) -> Self {
                    $crate::support::setters!(@field self $base $name) = $name;
                    self
                }
            )*
        }
    };
    (@field $s:ident [$($base:ident)*] $name:ident) => {
        $s $(.$base)* .$name
    };
}
pub(crate) use setters;

/// Setters of list options (`reduction_axes`, `strides`, ...): each takes a
/// slice of `$t` and stores it as a `Vec`. `$cfg.base` as in [`setters`].
macro_rules! vec_setters {
    ($cfg:ident $(<$e:ident>)? $(. $base:ident)* = $ctor:literal { $($name:ident : $t:ty),* $(,)? }) => {
        $crate::support::vec_setters!(@impl $cfg [$($e)?] [$($base)*] $ctor { $($name : $t),* });
    };
    (@impl $cfg:ident [$($e:ident)?] $base:tt $ctor:literal { $($name:ident : $t:ty),* }) => {
        impl$(<$e: ::nnx_tensor::Element>)? $cfg$(<$e>)? {
            $(
                #[doc = concat!("Sets `", stringify!($name), "` (Flax's argument of that name).")]
                #[doc = ""]
                #[doc = "```"]
                #[doc = concat!("let cfg = ", $ctor, ".", stringify!($name), "(&[1]);")]
                #[doc = concat!("assert!(format!(\"{cfg:?}\").contains(\"", stringify!($name), ": [1]\"));")]
                #[doc = "```"]
                pub fn $name(mut self, $name: &[$t]) -> Self {
                    $crate::support::setters!(@field self $base $name) = $name.to_vec();
                    self
                }
            )*
        }
    };
}
pub(crate) use vec_setters;

/// Initializer setters (`kernel_init`, `bias_init`, `scale_init`, ...): each
/// names its default and the expression reaching the parameter it initializes,
/// used in its doc example. `$cfg.base` as in [`setters`].
macro_rules! init_setters {
    ($cfg:ident $(<$e:ident>)? $(. $base:ident)* = $ctor:literal { $($name:ident ($default:literal) => $param:literal),* $(,)? }) => {
        $crate::support::init_setters!(@impl $cfg [$($e)?] [$($e)?] [$($base)*] $ctor { $($name ($default) => $param),* });
    };
    (@impl $cfg:ident [$($e:ident)?] $elem:tt $base:tt $ctor:literal { $($name:ident ($default:literal) => $param:literal),* }) => {
        impl$(<$e: ::nnx_tensor::Element>)? $cfg$(<$e>)? {
            $(
                #[doc = concat!("Sets `", stringify!($name), "` (Flax's argument of that name; default `", $default, "`).")]
                #[doc = ""]
                #[doc = "```"]
                #[doc = "use nnx_core::{init, rngs::Rngs};"]
                #[doc = concat!("let layer = ", $ctor, ".", stringify!($name), "(init::constant(0.5)).build(&mut Rngs::new(0))?;")]
                #[doc = concat!("let p = ", $param, ";")]
                #[doc = "assert!(p.len() > 0 && p.view().iter().all(|&v| v == 0.5));"]
                #[doc = "# Ok::<(), nnx_core::Error>(())"]
                #[doc = "```"]
                pub fn $name(mut self, init: impl Into<::nnx_core::init::ParamInit<$crate::support::elem!$elem>>) -> Self {
                    $crate::support::setters!(@field self $base $name) = init.into();
                    self
                }
            )*
        }
    };
}
pub(crate) use init_setters;

/// The element type of a config: its parameter `E`, or `f32` for a config
/// that is not generic.
macro_rules! elem {
    () => {
        f32
    };
    ($e:ident) => {
        $e
    };
}
pub(crate) use elem;

/// Checks that the Variable at `path` still has the shape the layer's
/// configuration implies: Variables are public and can be reassigned, so a
/// forward pass checks what it uses before any kernel runs.
pub(crate) fn check_shape(path: &str, found: &[usize], expected: &[usize]) -> Result<()> {
    if found == expected {
        return Ok(());
    }
    Err(Error::ShapeMismatch {
        path: nnx_core::ErrorPath(path.to_string()),
        expected: fmt_tuple_usize(expected),
        found: fmt_tuple_usize(found),
    })
}

/// [`check_opt`] for a Tensor parameter.
pub(crate) fn check_opt_tensor<E: nnx_tensor::Element>(
    path: &str,
    p: &Option<Param<nnx_tensor::Tensor<E>>>,
    expected: &[usize],
) -> Result<()> {
    match p {
        Some(p) => check_shape(path, p.shape(), expected),
        None => Ok(()),
    }
}

/// Rejects a configuration value at build time: `what` names the layer and
/// option.
pub(crate) fn check_config(
    ok: bool,
    what: &str,
    expected: &str,
    found: impl std::fmt::Display,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            what,
            expected.to_string(),
            found.to_string(),
        ))
    }
}

/// A dropout rate: a probability in `[0, 1]` (NaN is not one).
pub(crate) fn check_rate(what: &str, rate: f64) -> Result<()> {
    check_config(
        (0.0..=1.0).contains(&rate),
        what,
        "a probability in [0, 1]",
        rate,
    )
}

/// An epsilon added to a variance: finite and not negative.
pub(crate) fn check_epsilon<E: nnx_tensor::Element>(what: &str, eps: E) -> Result<()> {
    check_config(
        eps.is_finite() && eps >= E::zero(),
        what,
        "a finite value >= 0",
        eps,
    )
}

/// Sizes from user configs are checked before any allocation they size.
pub(crate) use nnx_tensor::check_alloc;
