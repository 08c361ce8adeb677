//! optax's schedules: step → value, in f32 as optax computes them under JAX's
//! default 32-bit mode, and in f64 (for float64 parameters) as it computes them
//! under `jax_enable_x64`. A schedule is asked for the value at a
//! transformation's own `int32` count.

use std::fmt;
use std::sync::Arc;

use nnx_core::{Error, Result};
use nnx_tensor::Element;

use crate::float::{from_i32, lit, OptFloat};

/// A schedule from one generic body, compiled for f32 and f64 (`$E` is the
/// element type inside `$body`); `$env` (optional) is cloned for the second.
macro_rules! generic_schedule {
    (|$c:ident: $E:ident| $body:expr) => {
        Schedule::from_fns(
            move |$c: i32| -> f32 {
                type $E = f32;
                $body
            },
            move |$c: i32| -> f64 {
                type $E = f64;
                $body
            },
        )
    };
    ($env:ident; |$c:ident: $E:ident| $body:expr) => {{
        let other = $env.clone();
        Schedule::from_fns(
            move |$c: i32| -> f32 {
                type $E = f32;
                $body
            },
            move |$c: i32| -> f64 {
                type $E = f64;
                let $env = &other;
                $body
            },
        )
    }};
}

/// A schedule: a function of the step (optax's `Schedule`). Cheap to clone.
///
/// ```
/// let s = nnx_optim::optax::linear_schedule(1.0, 0.0, 10, 0);
/// assert_eq!(s.at(5).unwrap(), 0.5);
/// assert!(s.at(-1).is_err());
/// ```
#[derive(Clone)]
pub struct Schedule {
    f32: Arc<dyn Fn(i32) -> f32 + Send + Sync>,
    f64: Arc<dyn Fn(i32) -> f64 + Send + Sync>,
    /// Under `jax_enable_x64` optax's value is still a (strongly typed)
    /// float32 array (polynomial and exponential schedules divide an int32
    /// count, which JAX does in float32), so it wins over weakly typed f64
    /// values in `join_schedules`.
    x64_in_f32: bool,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Schedule(..)")
    }
}

impl Schedule {
    /// A schedule from a function of the (non-negative, `int32`) step.
    ///
    /// ```
    /// let s = nnx_optim::optax::Schedule::new(|step| 1.0 / (1.0 + step as f32));
    /// assert_eq!(s.at(3).unwrap(), 0.25);
    /// ```
    /// For float64 parameters its values are widened to f64 (as optax does
    /// with a float32 schedule); give an f64 schedule with [`Schedule::new_f64`].
    pub fn new(f: impl Fn(i32) -> f32 + Send + Sync + 'static) -> Schedule {
        let f = Arc::new(f);
        let g = Arc::clone(&f);
        Schedule {
            x64_in_f32: true,
            ..Schedule::from_fns(move |c| f(c), move |c| f64::from(g(c)))
        }
    }

    /// A schedule computed in f64 (its values for float32 parameters are
    /// rounded to f32).
    ///
    /// ```
    /// let s = nnx_optim::optax::Schedule::new_f64(|step| 0.1 / (1.0 + f64::from(step)));
    /// assert_eq!(s.at_f64(1).unwrap(), 0.05);
    /// assert_eq!(s.at(1).unwrap(), 0.05f32);
    /// ```
    pub fn new_f64(f: impl Fn(i32) -> f64 + Send + Sync + 'static) -> Schedule {
        let f = Arc::new(f);
        let g = Arc::clone(&f);
        Schedule::from_fns(move |c| g(c) as f32, move |c| f(c))
    }

    fn from_fns(
        f32: impl Fn(i32) -> f32 + Send + Sync + 'static,
        f64: impl Fn(i32) -> f64 + Send + Sync + 'static,
    ) -> Schedule {
        Schedule {
            f32: Arc::new(f32),
            f64: Arc::new(f64),
            x64_in_f32: false,
        }
    }

    /// The value at `step`. Errors for a negative step; steps past `i32::MAX`
    /// are asked as `i32::MAX` (optax's counters saturate there).
    ///
    /// ```
    /// let s = nnx_optim::optax::constant_schedule(0.1);
    /// assert_eq!(s.at(1 << 40).unwrap(), 0.1);
    /// assert!(s.at(-3).unwrap_err().to_string().contains("a step >= 0"));
    /// ```
    pub fn at(&self, step: i64) -> Result<f32> {
        Ok((self.f32)(Self::count(step)?))
    }

    /// The value at `step` for float64 parameters: what optax computes under
    /// `jax_enable_x64`. That is f64 arithmetic for the constant, cosine and
    /// piecewise-constant schedules, but f32 arithmetic (widened) for the
    /// polynomial (linear) and exponential ones, whose int32 count JAX
    /// divides in float32, and for joins with one of those.
    ///
    /// ```
    /// use nnx_optim::optax::{cosine_decay_schedule, linear_schedule};
    /// let s = cosine_decay_schedule(1.0, 3, 0.0, 1.0).unwrap();
    /// assert_eq!(s.at_f64(1).unwrap(), 0.5 * (1.0 + (std::f64::consts::PI / 3.0).cos()));
    /// let s = linear_schedule(1.0, 0.0, 3, 0);
    /// assert_eq!(s.at_f64(1).unwrap(), f64::from(1.0 - 1.0f32 / 3.0));
    /// ```
    pub fn at_f64(&self, step: i64) -> Result<f64> {
        Ok((self.f64)(Self::count(step)?))
    }

    fn count(step: i64) -> Result<i32> {
        if step < 0 {
            return Err(Error::invalid_argument(
                "a schedule",
                "a step >= 0",
                step.to_string(),
            ));
        }
        Ok(i32::try_from(step).unwrap_or(i32::MAX))
    }

    pub(crate) fn eval(&self, count: i32) -> f32 {
        (self.f32)(count)
    }

    pub(crate) fn eval_f64(&self, count: i32) -> f64 {
        (self.f64)(count)
    }
}

/// A learning rate (or weight decay): a number or a [`Schedule`] (optax's
/// `ScalarOrSchedule`). Numbers convert with `.into()`.
///
/// ```
/// use nnx_optim::optax::{linear_schedule, ScalarOrSchedule};
/// let a: ScalarOrSchedule = 1e-3.into();
/// let b: ScalarOrSchedule = linear_schedule(1e-3, 0.0, 100, 0).into();
/// assert!(matches!((a, b), (ScalarOrSchedule::Scalar(_), ScalarOrSchedule::Schedule(_))));
/// ```
#[derive(Clone, Debug)]
pub enum ScalarOrSchedule {
    /// A constant (kept in f64 as the Python float is, rounded to f32 where used).
    Scalar(f64),
    /// A function of the transformation's own step count.
    Schedule(Schedule),
}

impl From<f64> for ScalarOrSchedule {
    fn from(x: f64) -> Self {
        ScalarOrSchedule::Scalar(x)
    }
}

impl From<f32> for ScalarOrSchedule {
    fn from(x: f32) -> Self {
        ScalarOrSchedule::Scalar(f64::from(x))
    }
}

impl From<Schedule> for ScalarOrSchedule {
    fn from(s: Schedule) -> Self {
        ScalarOrSchedule::Schedule(s)
    }
}

/// optax's `constant_schedule(value)`.
///
/// ```
/// assert_eq!(nnx_optim::optax::constant_schedule(0.5).at(100).unwrap(), 0.5);
/// ```
pub fn constant_schedule(value: f64) -> Schedule {
    generic_schedule!(|_c: E| lit::<E>(value))
}

/// optax's `polynomial_schedule`: from `init_value` to `end_value` over
/// `transition_steps` steps starting at `transition_begin`, as
/// `(init - end) * (1 - t / steps)^power + end`. A non-positive
/// `transition_steps` gives the constant `init_value`; a negative
/// `transition_begin` counts as 0, as in optax.
///
/// ```
/// let s = nnx_optim::optax::polynomial_schedule(1.0, 0.0, 2.0, 10, 0);
/// assert_eq!(s.at(5).unwrap(), 0.25);
/// assert_eq!(s.at(50).unwrap(), 0.0);
/// ```
pub fn polynomial_schedule(
    init_value: f64,
    end_value: f64,
    power: f64,
    transition_steps: i32,
    transition_begin: i32,
) -> Schedule {
    if transition_steps <= 0 {
        return constant_schedule(init_value);
    }
    let begin = transition_begin.max(0);
    let (range, end) = ((init_value - end_value) as f32, end_value as f32);
    Schedule::new(move |count| {
        let c = count.saturating_sub(begin).clamp(0, transition_steps);
        let frac = 1.0 - c as f32 / transition_steps as f32;
        range * pow(frac, power) + end
    })
}

/// optax's `linear_schedule`: [`polynomial_schedule`] with power 1.
///
/// ```
/// let s = nnx_optim::optax::linear_schedule(0.0, 1.0, 4, 2);
/// assert_eq!([s.at(0).unwrap(), s.at(3).unwrap(), s.at(9).unwrap()], [0.0, 0.25, 1.0]);
/// ```
pub fn linear_schedule(
    init_value: f64,
    end_value: f64,
    transition_steps: i32,
    transition_begin: i32,
) -> Schedule {
    polynomial_schedule(
        init_value,
        end_value,
        1.0,
        transition_steps,
        transition_begin,
    )
}

/// optax's `exponential_decay`: `init * rate^((step - begin) / steps)` after
/// `transition_begin` (`floor`ed exponent with `staircase`), clipped at
/// `end_value` when given. Non-positive `transition_steps` or a zero rate give
/// the constant `init_value`.
///
/// ```
/// let s = nnx_optim::optax::exponential_decay(1.0, 10, 0.5, 0, false, None);
/// assert_eq!(s.at(20).unwrap(), 0.25);
/// let floor = nnx_optim::optax::exponential_decay(1.0, 10, 0.5, 0, true, Some(0.4));
/// assert_eq!([floor.at(15).unwrap(), floor.at(30).unwrap()], [0.5, 0.4]);
/// ```
pub fn exponential_decay(
    init_value: f64,
    transition_steps: i32,
    decay_rate: f64,
    transition_begin: i32,
    staircase: bool,
    end_value: Option<f64>,
) -> Schedule {
    if transition_steps <= 0 || decay_rate == 0.0 {
        return constant_schedule(init_value);
    }
    let begin = transition_begin.max(0);
    let (init, rate) = (init_value as f32, decay_rate as f32);
    let end = end_value.map(|e| e as f32);
    Schedule::new(move |count| {
        let decreased = count.saturating_sub(begin);
        let mut p = decreased as f32 / transition_steps as f32;
        if staircase {
            p = p.floor();
        }
        let v = if decreased <= 0 {
            init
        } else {
            init * rate.powf(p)
        };
        match end {
            Some(e) if decay_rate < 1.0 => v.max(e),
            Some(e) => v.min(e),
            None => v,
        }
    })
}

/// optax's `cosine_decay_schedule`: `init * ((1 - alpha) * c^exponent + alpha)`
/// with `c = (1 + cos(pi * min(step, decay_steps) / decay_steps)) / 2`.
/// `decay_steps` must be positive (optax raises too).
///
/// ```
/// let s = nnx_optim::optax::cosine_decay_schedule(1.0, 10, 0.0, 1.0).unwrap();
/// assert_eq!([s.at(0).unwrap(), s.at(10).unwrap()], [1.0, 0.0]);
/// assert!(nnx_optim::optax::cosine_decay_schedule(1.0, 0, 0.0, 1.0).is_err());
/// ```
pub fn cosine_decay_schedule(
    init_value: f64,
    decay_steps: i32,
    alpha: f64,
    exponent: f64,
) -> Result<Schedule> {
    if decay_steps <= 0 {
        return Err(Error::invalid_argument(
            "cosine_decay_schedule",
            "decay_steps > 0",
            decay_steps.to_string(),
        ));
    }
    Ok(generic_schedule!(|count: E| {
        let steps = from_i32::<E>(decay_steps);
        let c = from_i32::<E>(count).min(steps);
        let pi = lit::<E>(std::f64::consts::PI);
        let cosine = lit::<E>(0.5) * (lit::<E>(1.0) + (pi * c / steps).cos());
        lit::<E>(init_value) * (lit::<E>(1.0 - alpha) * pow(cosine, exponent) + lit::<E>(alpha))
    }))
}

/// optax's `warmup_cosine_decay_schedule`: linear from `init_value` to
/// `peak_value` over `warmup_steps`, then cosine decay to `end_value` at
/// `decay_steps` (which counts the warmup), then constant. `decay_steps` must
/// exceed `warmup_steps`.
///
/// ```
/// let s = nnx_optim::optax::warmup_cosine_decay_schedule(0.0, 1.0, 10, 30, 0.0, 1.0).unwrap();
/// assert_eq!([s.at(5).unwrap(), s.at(10).unwrap(), s.at(99).unwrap()], [0.5, 1.0, 0.0]);
/// assert!((s.at(20).unwrap() - 0.5).abs() < 1e-6); // half-way down the cosine
/// ```
pub fn warmup_cosine_decay_schedule(
    init_value: f64,
    peak_value: f64,
    warmup_steps: i32,
    decay_steps: i32,
    end_value: f64,
    exponent: f64,
) -> Result<Schedule> {
    let alpha = if peak_value == 0.0 {
        0.0
    } else {
        end_value / peak_value
    };
    let warmup = linear_schedule(init_value, peak_value, warmup_steps, 0);
    let decay = cosine_decay_schedule(
        peak_value,
        decay_steps.saturating_sub(warmup_steps),
        alpha,
        exponent,
    )
    .map_err(|_| {
        Error::invalid_argument(
            "warmup_cosine_decay_schedule",
            "decay_steps > warmup_steps",
            format!("decay_steps={decay_steps}, warmup_steps={warmup_steps}"),
        )
    })?;
    join_schedules(vec![warmup, decay], &[warmup_steps])
}

/// optax's `piecewise_constant_schedule`: `init_value`, multiplied by each
/// `scale` from its `boundary` step on. Scales must be non-negative.
///
/// ```
/// let s = nnx_optim::optax::piecewise_constant_schedule(1.0, &[(10, 0.5), (20, 0.1)]).unwrap();
/// assert_eq!([s.at(9).unwrap(), s.at(10).unwrap(), s.at(25).unwrap()], [1.0, 0.5, 0.05]);
/// ```
pub fn piecewise_constant_schedule(
    init_value: f64,
    boundaries_and_scales: &[(i32, f64)],
) -> Result<Schedule> {
    if let Some((b, s)) = boundaries_and_scales
        .iter()
        .find(|(_, s)| s.is_nan() || *s < 0.0)
    {
        return Err(Error::invalid_argument(
            "piecewise_constant_schedule",
            "non-negative scales",
            format!("scale {s} at boundary {b}"),
        ));
    }
    let mut sorted = boundaries_and_scales.to_vec();
    sorted.sort_by_key(|&(b, _)| b);
    Ok(generic_schedule!(sorted; |count: E| {
        sorted.iter().fold(lit::<E>(init_value), |v, &(b, s)| {
            if count < b {
                v
            } else {
                lit::<E>(s) * v
            }
        })
    }))
}

/// optax's `join_schedules`: `schedules[0]` before `boundaries[0]`, then
/// `schedules[i]` at `step - boundaries[i - 1]`. Needs one boundary fewer than
/// schedules.
///
/// ```
/// use nnx_optim::optax::{constant_schedule, join_schedules, linear_schedule};
/// let s = join_schedules(vec![constant_schedule(1.0), linear_schedule(1.0, 0.0, 10, 0)], &[5]).unwrap();
/// assert_eq!([s.at(4).unwrap(), s.at(10).unwrap()], [1.0, 0.5]);
/// ```
pub fn join_schedules(schedules: Vec<Schedule>, boundaries: &[i32]) -> Result<Schedule> {
    if schedules.len() != boundaries.len() + 1 {
        return Err(Error::invalid_argument(
            "join_schedules",
            "one boundary fewer than schedules",
            format!(
                "{} schedules and {} boundaries",
                schedules.len(),
                boundaries.len()
            ),
        ));
    }
    // jnp.where keeps a float32 part's dtype over weakly typed f64 ones.
    let x64_in_f32 = schedules.iter().any(|s| s.x64_in_f32);
    let parts = Arc::new((schedules, boundaries.to_vec()));
    let joined = generic_schedule!(parts; |step: E| {
        let (schedules, boundaries): &(Vec<Schedule>, Vec<i32>) = parts.as_ref();
        let mut out = schedules
            .first()
            .map_or(lit::<E>(0.0), |s| E::schedule(s, step));
        for (b, s) in boundaries.iter().zip(schedules.iter().skip(1)) {
            if step >= *b {
                out = E::schedule(s, step.saturating_sub(*b));
            }
        }
        out
    });
    Ok(if x64_in_f32 {
        let f64_fn = Arc::clone(&joined.f64);
        Schedule {
            f64: Arc::new(move |c| f64::from(f64_fn(c) as f32)),
            x64_in_f32,
            ..joined
        }
    } else {
        joined
    })
}

/// `x ** p` as JAX computes it: integer powers by repeated multiplication
/// (`lax.integer_pow`), others with `pow`.
fn pow<E: Element>(x: E, p: f64) -> E {
    if p.fract() == 0.0 && p.abs() <= 64.0 {
        x.powi(p as i32)
    } else {
        x.powf(lit::<E>(p))
    }
}
