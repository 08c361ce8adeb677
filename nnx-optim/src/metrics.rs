//! Flax's `nnx.metrics`: [`Average`], [`Accuracy`], [`Welford`] and
//! [`MultiMetric`], whose running sums are `MetricState` Variables at Flax's
//! paths, so they print, split and save like Flax's.
//!
//! A [`Batch`] plays Flax's keyword arguments: `metrics.update(loss=loss,
//! logits=logits, labels=labels)` is
//! `metrics.update(&Batch::new().scalar("loss", loss).logits(logits).labels(labels))?`.
//!
//! ```
//! use nnx_optim::metrics::{Accuracy, Average, Batch, Metric, MultiMetric};
//! let mut m = MultiMetric::new([("accuracy", Accuracy::new().into()), ("loss", Average::new("loss").into())]);
//! let batch = Batch::new()
//!     .scalar("loss", 0.5)
//!     .logits(ndarray::arr2(&[[0.1f32, 0.9], [0.8, 0.2]]).into_dyn())
//!     .labels(ndarray::arr1(&[1i64, 1]).into_dyn());
//! m.update(&batch).unwrap();
//! let out = m.compute();
//! assert_eq!((out["accuracy"].scalar(), out["loss"].scalar()), (Some(0.5), Some(0.5)));
//! ```

use std::collections::BTreeMap;

use ndarray::{ArrayD, Axis, Zip};
use nnx_core::graph::Builder;
use nnx_core::graph::{Action, Field, Place, Walker, WalkerMut};
use nnx_core::{Error, Key, Module, Result};

nnx_core::variable_type!(
    /// Flax's `nnx.metrics.MetricState`: a metric's running sums.
    ///
    /// ```
    /// assert_eq!(nnx_optim::metrics::MetricState.name(), "MetricState");
    /// ```
    pub MetricState
);

/// The keyword arguments of a metric update: named value arrays (for
/// [`Average`] and [`Welford`]), logits and integer labels (for [`Accuracy`]),
/// and an optional mask of valid examples.
///
/// ```
/// let b = nnx_optim::metrics::Batch::new().scalar("loss", 1.0).mask(ndarray::arr1(&[true]).into_dyn());
/// assert!(b.get("loss").is_some());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Batch {
    values: BTreeMap<String, ArrayD<f32>>,
    logits: Option<ArrayD<f32>>,
    labels: Option<ArrayD<i64>>,
    mask: Option<ArrayD<bool>>,
}

impl Batch {
    /// No arguments.
    ///
    /// ```
    /// assert!(nnx_optim::metrics::Batch::new().get("loss").is_none());
    /// ```
    pub fn new() -> Batch {
        Batch::default()
    }
    /// Adds the values `name` (a batch of them).
    ///
    /// ```
    /// let b = nnx_optim::metrics::Batch::new().values("loss", ndarray::arr1(&[1.0f32, 2.0]).into_dyn());
    /// assert_eq!(b.get("loss").unwrap().len(), 2);
    /// ```
    pub fn values(mut self, name: &str, values: ArrayD<f32>) -> Batch {
        self.values.insert(name.to_string(), values);
        self
    }
    /// Adds one value `name` (a Python number in Flax: counts once).
    ///
    /// ```
    /// let b = nnx_optim::metrics::Batch::new().scalar("loss", 0.5);
    /// assert_eq!(b.get("loss").unwrap().ndim(), 0);
    /// ```
    pub fn scalar(self, name: &str, value: f32) -> Batch {
        self.values(name, ndarray::arr0(value).into_dyn())
    }
    /// Sets the logits (`(..., classes)`, or the labels' shape with a threshold).
    ///
    /// ```
    /// let _ = nnx_optim::metrics::Batch::new().logits(ndarray::arr1(&[0.3f32]).into_dyn());
    /// ```
    pub fn logits(mut self, logits: ArrayD<f32>) -> Batch {
        self.logits = Some(logits);
        self
    }
    /// Sets the integer labels.
    ///
    /// ```
    /// let _ = nnx_optim::metrics::Batch::new().labels(ndarray::arr1(&[1i64]).into_dyn());
    /// ```
    pub fn labels(mut self, labels: ArrayD<i64>) -> Batch {
        self.labels = Some(labels);
        self
    }
    /// Sets the mask of the examples to count.
    ///
    /// ```
    /// let _ = nnx_optim::metrics::Batch::new().mask(ndarray::arr1(&[true, false]).into_dyn());
    /// ```
    pub fn mask(mut self, mask: ArrayD<bool>) -> Batch {
        self.mask = Some(mask);
        self
    }
    /// The values named `name`.
    ///
    /// ```
    /// assert!(nnx_optim::metrics::Batch::new().scalar("x", 1.0).get("y").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&ArrayD<f32>> {
        self.values.get(name)
    }
}

/// What a metric computes: a number, or [`Welford`]'s statistics.
///
/// ```
/// assert_eq!(nnx_optim::metrics::MetricValue::Scalar(0.5).scalar(), Some(0.5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MetricValue {
    /// An average or accuracy.
    Scalar(f32),
    /// Mean, standard error of the mean and standard deviation.
    Statistics(Statistics),
}

impl MetricValue {
    /// The number, if this is one.
    ///
    /// ```
    /// use nnx_optim::metrics::{MetricValue, Statistics};
    /// let s = Statistics { mean: 1.0, standard_error_of_mean: 0.0, standard_deviation: 0.0 };
    /// assert_eq!(MetricValue::Statistics(s).scalar(), None);
    /// ```
    pub fn scalar(&self) -> Option<f32> {
        match self {
            MetricValue::Scalar(x) => Some(*x),
            MetricValue::Statistics(_) => None,
        }
    }
}

/// Flax's `nnx.metrics.Statistics`, what [`Welford`] computes.
///
/// ```
/// let s = nnx_optim::metrics::Statistics { mean: 1.0, standard_error_of_mean: 0.5, standard_deviation: 1.0 };
/// assert_eq!(s.mean, 1.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Statistics {
    /// The mean.
    pub mean: f32,
    /// `standard_deviation / sqrt(count)`.
    pub standard_error_of_mean: f32,
    /// The population standard deviation.
    pub standard_deviation: f32,
}

/// Flax's `nnx.metrics.Metric`: `update`, `compute`, `reset`.
///
/// ```
/// use nnx_optim::metrics::{Average, Batch, Metric};
/// let mut avg = Average::new("loss");
/// avg.update(&Batch::new().scalar("loss", 2.0)).unwrap();
/// avg.reset();
/// assert!(avg.compute().scalar().unwrap().is_nan()); // 0 / 0, as in Flax
/// ```
pub trait Metric {
    /// Accumulates one batch.
    fn update(&mut self, batch: &Batch) -> Result<()>;
    /// The metric so far.
    fn compute(&self) -> MetricValue;
    /// Back to the initial state.
    fn reset(&mut self);
}

fn missing(argname: &str) -> Error {
    Error::invalid_argument(
        "metric update",
        format!("the argument '{argname}'"),
        "a batch without it",
    )
}

/// `(sum of values where counted, number counted)`, with an optional mask of
/// the values' shape.
fn masked_sum(values: &ArrayD<f32>, mask: Option<&ArrayD<bool>>) -> Result<(f32, i32)> {
    match mask {
        None => Ok((values.sum(), values.len() as i32)),
        Some(m) if m.shape() == values.shape() => {
            let total = Zip::from(values)
                .and(m)
                .fold(0.0f32, |acc, &v, &k| acc + if k { v } else { 0.0 });
            Ok((total, m.iter().filter(|&&k| k).count() as i32))
        }
        Some(m) => Err(Error::ShapeMismatch {
            path: "metric mask".into(),
            expected: nnx_core::repr::fmt_tuple_usize(values.shape()),
            found: nnx_core::repr::fmt_tuple_usize(m.shape()),
        }),
    }
}

/// Adds the (masked) values to an average's `total` and `count`.
fn accumulate(
    total: &mut MetricState<f32>,
    count: &mut MetricState<i32>,
    values: &ArrayD<f32>,
    mask: Option<&ArrayD<bool>>,
) -> Result<()> {
    let (t, c) = masked_sum(values, mask)?;
    **total += t;
    **count += c;
    Ok(())
}

/// Flax's `nnx.metrics.Average(argname)`: the mean of the values passed as
/// `argname` (`total / count`).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_optim::metrics::{Average, Batch, Metric};
/// let mut avg = Average::new("loss");
/// avg.update(&Batch::new().values("loss", ndarray::arr1(&[1.0f32, 2.0, 6.0]).into_dyn())).unwrap();
/// assert_eq!(avg.compute().scalar(), Some(3.0));
/// assert_eq!(avg.state().len(), 2); // 'count' and 'total', MetricState Variables
/// ```
#[derive(Module)]
pub struct Average {
    /// The argument averaged.
    pub argname: String,
    /// The sum of the values.
    pub total: MetricState<f32>,
    /// How many values.
    pub count: MetricState<i32>,
}

impl Average {
    /// An average of the argument `argname` (Flax's default is `"values"`).
    ///
    /// ```
    /// assert_eq!(nnx_optim::metrics::Average::new("values").argname, "values");
    /// ```
    pub fn new(argname: &str) -> Average {
        Average {
            argname: argname.to_string(),
            total: MetricState::new(0.0),
            count: MetricState::new(0),
        }
    }
}

impl Average {
    /// Accumulates one batch (Flax's `update(**kwargs)`); on an error nothing changes.
    ///
    /// ```
    /// use nnx_optim::metrics::*;
    /// let mut m = Average::new("v");
    /// let b = Batch::new().scalar("v", 2.0)
    ///     .logits(ndarray::arr1(&[0.0f32, 1.0]).into_dyn()).labels(ndarray::arr0(1i64).into_dyn());
    /// m.update(&b).unwrap();
    /// assert_eq!(m.compute(), MetricValue::Scalar(2.0));
    /// m.reset();
    /// assert_eq!(*m.count, 0);
    /// ```
    pub fn update(&mut self, batch: &Batch) -> Result<()> {
        let values = batch
            .get(&self.argname)
            .ok_or_else(|| missing(&self.argname))?;
        accumulate(
            &mut self.total,
            &mut self.count,
            values,
            batch.mask.as_ref(),
        )
    }
    /// The metric so far (Flax's `compute()`).
    ///
    /// ```
    /// use nnx_optim::metrics::*;
    /// let mut m = Average::new("v");
    /// let b = Batch::new().scalar("v", 2.0)
    ///     .logits(ndarray::arr1(&[0.0f32, 1.0]).into_dyn()).labels(ndarray::arr0(1i64).into_dyn());
    /// m.update(&b).unwrap();
    /// assert_eq!(m.compute(), MetricValue::Scalar(2.0));
    /// m.reset();
    /// assert_eq!(*m.count, 0);
    /// ```
    pub fn compute(&self) -> MetricValue {
        MetricValue::Scalar(*self.total / *self.count as f32)
    }
    /// Back to the initial state (Flax's `reset()`).
    ///
    /// ```
    /// use nnx_optim::metrics::*;
    /// let mut m = Average::new("v");
    /// let b = Batch::new().scalar("v", 2.0)
    ///     .logits(ndarray::arr1(&[0.0f32, 1.0]).into_dyn()).labels(ndarray::arr0(1i64).into_dyn());
    /// m.update(&b).unwrap();
    /// assert_eq!(m.compute(), MetricValue::Scalar(2.0));
    /// m.reset();
    /// assert_eq!(*m.count, 0);
    /// ```
    pub fn reset(&mut self) {
        *self.total = 0.0;
        *self.count = 0;
    }
}

/// Flax's `nnx.metrics.Accuracy(threshold=None)`: the fraction of examples
/// whose `argmax(logits)` equals the label, or, with a threshold (binary),
/// whose `logits >= threshold` agrees with `label > 0`. State as [`Average`].
///
/// ```
/// use nnx_optim::metrics::{Accuracy, Batch, Metric};
/// let mut acc = Accuracy::with_threshold(0.5);
/// let b = Batch::new().logits(ndarray::arr1(&[0.7f32, 0.2, 0.9]).into_dyn())
///     .labels(ndarray::arr1(&[1i64, 1, 0]).into_dyn());
/// acc.update(&b).unwrap();
/// assert_eq!(acc.compute().scalar(), Some(1.0 / 3.0));
/// ```
#[derive(Module)]
pub struct Accuracy {
    /// The binary threshold, if any.
    pub threshold: Option<f32>,
    /// The number of correct predictions.
    pub total: MetricState<f32>,
    /// How many predictions.
    pub count: MetricState<i32>,
}

impl Accuracy {
    /// Multi-class accuracy: `argmax(logits, -1) == labels`.
    ///
    /// ```
    /// assert_eq!(nnx_optim::metrics::Accuracy::new().threshold, None);
    /// ```
    pub fn new() -> Accuracy {
        Accuracy {
            threshold: None,
            total: MetricState::new(0.0),
            count: MetricState::new(0),
        }
    }

    /// Binary accuracy: `(logits >= threshold) == (labels > 0)`.
    ///
    /// ```
    /// assert_eq!(nnx_optim::metrics::Accuracy::with_threshold(0.5).threshold, Some(0.5));
    /// ```
    pub fn with_threshold(threshold: f32) -> Accuracy {
        Accuracy {
            threshold: Some(threshold),
            ..Accuracy::new()
        }
    }
}

impl Default for Accuracy {
    fn default() -> Self {
        Accuracy::new()
    }
}

impl Accuracy {
    /// Accumulates one batch (Flax's `update(**kwargs)`); on an error nothing changes.
    ///
    /// ```
    /// use nnx_optim::metrics::*;
    /// let mut m = Accuracy::new();
    /// let b = Batch::new().scalar("v", 2.0)
    ///     .logits(ndarray::arr1(&[0.0f32, 1.0]).into_dyn()).labels(ndarray::arr0(1i64).into_dyn());
    /// m.update(&b).unwrap();
    /// assert_eq!(m.compute(), MetricValue::Scalar(1.0));
    /// m.reset();
    /// assert_eq!(*m.count, 0);
    /// ```
    pub fn update(&mut self, batch: &Batch) -> Result<()> {
        let logits = batch.logits.as_ref().ok_or_else(|| missing("logits"))?;
        let labels = batch.labels.as_ref().ok_or_else(|| missing("labels"))?;
        let correct: ArrayD<f32> = match self.threshold {
            Some(t) => {
                if logits.shape() != labels.shape() {
                    return Err(Error::ShapeMismatch {
                        path: "Accuracy logits".into(),
                        expected: format!(
                            "the labels' shape {} (binary)",
                            nnx_core::repr::fmt_tuple_usize(labels.shape())
                        ),
                        found: nnx_core::repr::fmt_tuple_usize(logits.shape()),
                    });
                }
                Zip::from(logits)
                    .and(labels)
                    .map_collect(|&x, &l| f32::from(u8::from((x >= t) == (l > 0))))
            }
            None => {
                let classes = logits.ndim().checked_sub(1);
                if classes.map(|a| &logits.shape()[..a]) != Some(labels.shape()) {
                    return Err(Error::ShapeMismatch {
                        path: "Accuracy logits".into(),
                        expected: format!(
                            "the labels' shape {} plus a class axis",
                            nnx_core::repr::fmt_tuple_usize(labels.shape())
                        ),
                        found: nnx_core::repr::fmt_tuple_usize(logits.shape()),
                    });
                }
                let axis = Axis(logits.ndim() - 1);
                let argmax = logits.map_axis(axis, |row| {
                    // jnp.argmax: the first maximum (NaN counts as the maximum).
                    let mut best = 0usize;
                    for (i, &v) in row.iter().enumerate() {
                        let b = row[best];
                        if v > b || (v.is_nan() && !b.is_nan()) {
                            best = i;
                        }
                    }
                    best as i64
                });
                Zip::from(&argmax)
                    .and(labels)
                    .map_collect(|&a, &l| f32::from(u8::from(a == l)))
            }
        };
        accumulate(
            &mut self.total,
            &mut self.count,
            &correct,
            batch.mask.as_ref(),
        )
    }
    /// The metric so far (Flax's `compute()`).
    ///
    /// ```
    /// use nnx_optim::metrics::*;
    /// let mut m = Accuracy::new();
    /// let b = Batch::new().scalar("v", 2.0)
    ///     .logits(ndarray::arr1(&[0.0f32, 1.0]).into_dyn()).labels(ndarray::arr0(1i64).into_dyn());
    /// m.update(&b).unwrap();
    /// assert_eq!(m.compute(), MetricValue::Scalar(1.0));
    /// m.reset();
    /// assert_eq!(*m.count, 0);
    /// ```
    pub fn compute(&self) -> MetricValue {
        MetricValue::Scalar(*self.total / *self.count as f32)
    }
    /// Back to the initial state (Flax's `reset()`).
    ///
    /// ```
    /// use nnx_optim::metrics::*;
    /// let mut m = Accuracy::new();
    /// let b = Batch::new().scalar("v", 2.0)
    ///     .logits(ndarray::arr1(&[0.0f32, 1.0]).into_dyn()).labels(ndarray::arr0(1i64).into_dyn());
    /// m.update(&b).unwrap();
    /// assert_eq!(m.compute(), MetricValue::Scalar(1.0));
    /// m.reset();
    /// assert_eq!(*m.count, 0);
    /// ```
    pub fn reset(&mut self) {
        *self.total = 0.0;
        *self.count = 0;
    }
}

/// Flax's `nnx.metrics.Welford(argname)`: running mean and variance of the
/// values passed as `argname` (Chan et al.'s parallel update).
///
/// ```
/// use nnx_optim::metrics::{Batch, Metric, MetricValue, Welford};
/// let mut w = Welford::new("x");
/// w.update(&Batch::new().values("x", ndarray::arr1(&[1.0f32, 3.0]).into_dyn())).unwrap();
/// w.update(&Batch::new().scalar("x", 5.0)).unwrap();
/// let MetricValue::Statistics(s) = w.compute() else { unreachable!() };
/// assert_eq!(s.mean, 3.0);
/// assert!((s.standard_deviation - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
/// ```
#[derive(Module)]
pub struct Welford {
    /// The argument tracked.
    pub argname: String,
    /// How many values.
    pub count: MetricState<i32>,
    /// Their mean.
    pub mean: MetricState<f32>,
    /// The sum of squared deviations from the mean.
    pub m2: MetricState<f32>,
}

impl Welford {
    /// Statistics of the argument `argname`.
    ///
    /// ```
    /// assert_eq!(nnx_optim::metrics::Welford::new("values").argname, "values");
    /// ```
    pub fn new(argname: &str) -> Welford {
        Welford {
            argname: argname.to_string(),
            count: MetricState::new(0),
            mean: MetricState::new(0.0),
            m2: MetricState::new(0.0),
        }
    }
}

impl Welford {
    /// Accumulates one batch (Flax's `update(**kwargs)`); on an error nothing changes.
    ///
    /// ```
    /// use nnx_optim::metrics::*;
    /// let mut m = Welford::new("v");
    /// let b = Batch::new().scalar("v", 2.0)
    ///     .logits(ndarray::arr1(&[0.0f32, 1.0]).into_dyn()).labels(ndarray::arr0(1i64).into_dyn());
    /// m.update(&b).unwrap();
    /// assert!(matches!(m.compute(), MetricValue::Statistics(s) if s.mean == 2.0));
    /// m.reset();
    /// assert_eq!(*m.count, 0);
    /// ```
    pub fn update(&mut self, batch: &Batch) -> Result<()> {
        let values = batch
            .get(&self.argname)
            .ok_or_else(|| missing(&self.argname))?;
        let n = values.len() as i32;
        let original = *self.count;
        *self.count += n;
        let count = *self.count as f32;
        let batch_mean = values.mean().unwrap_or(f32::NAN);
        let delta = batch_mean - *self.mean;
        *self.mean += delta * n as f32 / count;
        let var = values
            .iter()
            .map(|v| (v - batch_mean) * (v - batch_mean))
            .sum::<f32>()
            / n as f32;
        let m2 = if values.ndim() == 0 {
            0.0
        } else {
            var * n as f32
        };
        *self.m2 += m2 + delta * delta * n as f32 * original as f32 / count;
        Ok(())
    }
    /// The metric so far (Flax's `compute()`).
    ///
    /// ```
    /// use nnx_optim::metrics::*;
    /// let mut m = Welford::new("v");
    /// let b = Batch::new().scalar("v", 2.0)
    ///     .logits(ndarray::arr1(&[0.0f32, 1.0]).into_dyn()).labels(ndarray::arr0(1i64).into_dyn());
    /// m.update(&b).unwrap();
    /// assert!(matches!(m.compute(), MetricValue::Statistics(s) if s.mean == 2.0));
    /// m.reset();
    /// assert_eq!(*m.count, 0);
    /// ```
    pub fn compute(&self) -> MetricValue {
        let count = *self.count as f32;
        let sd = (*self.m2 / count).sqrt();
        MetricValue::Statistics(Statistics {
            mean: *self.mean,
            standard_error_of_mean: sd / count.sqrt(),
            standard_deviation: sd,
        })
    }
    /// Back to the initial state (Flax's `reset()`).
    ///
    /// ```
    /// use nnx_optim::metrics::*;
    /// let mut m = Welford::new("v");
    /// let b = Batch::new().scalar("v", 2.0)
    ///     .logits(ndarray::arr1(&[0.0f32, 1.0]).into_dyn()).labels(ndarray::arr0(1i64).into_dyn());
    /// m.update(&b).unwrap();
    /// assert!(matches!(m.compute(), MetricValue::Statistics(s) if s.mean == 2.0));
    /// m.reset();
    /// assert_eq!(*m.count, 0);
    /// ```
    pub fn reset(&mut self) {
        *self.count = 0;
        *self.mean = 0.0;
        *self.m2 = 0.0;
    }
}

/// `Metric` by the inherent methods (which calls resolve to first, ahead of
/// `Module::update`).
macro_rules! inherent_metric {
    ($($t:ty),*) => {$(
        impl Metric for $t {
            fn update(&mut self, batch: &Batch) -> Result<()> {
                <$t>::update(self, batch)
            }
            fn compute(&self) -> MetricValue {
                <$t>::compute(self)
            }
            fn reset(&mut self) {
                <$t>::reset(self)
            }
        }
    )*};
}
inherent_metric!(Average, Accuracy, Welford);

/// One of the metrics a [`MultiMetric`] holds. Its Variables sit directly at
/// the metric's name (`accuracy/count`), as in Flax.
///
/// ```
/// let m: nnx_optim::metrics::AnyMetric = nnx_optim::metrics::Average::new("loss").into();
/// assert!(matches!(m, nnx_optim::metrics::AnyMetric::Average(_)));
/// ```
pub enum AnyMetric {
    /// An [`Average`].
    Average(Average),
    /// An [`Accuracy`].
    Accuracy(Accuracy),
    /// A [`Welford`].
    Welford(Welford),
}

impl From<Average> for AnyMetric {
    fn from(m: Average) -> Self {
        AnyMetric::Average(m)
    }
}
impl From<Accuracy> for AnyMetric {
    fn from(m: Accuracy) -> Self {
        AnyMetric::Accuracy(m)
    }
}
impl From<Welford> for AnyMetric {
    fn from(m: Welford) -> Self {
        AnyMetric::Welford(m)
    }
}

// Transparent: the metric's own node stands at the key, so paths are Flax's.
impl Field for AnyMetric {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        match self {
            AnyMetric::Average(m) => m.walk_field(key, w),
            AnyMetric::Accuracy(m) => m.walk_field(key, w),
            AnyMetric::Welford(m) => m.walk_field(key, w),
        }
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, place: Place) -> Action {
        match self {
            AnyMetric::Average(m) => m.walk_field_mut(key, w, place),
            AnyMetric::Accuracy(m) => m.walk_field_mut(key, w, place),
            AnyMetric::Welford(m) => m.walk_field_mut(key, w, place),
        }
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        Err(Error::invalid_argument(
            format!("merge of the metric {}", b.path_string_with(key)),
            "an existing MultiMetric to update (nnx::update / load_into)",
            "a rebuild from a GraphDef, which a MultiMetric does not support",
        ))
    }
}

impl AnyMetric {
    fn inner(&mut self) -> &mut dyn Metric {
        match self {
            AnyMetric::Average(m) => m,
            AnyMetric::Accuracy(m) => m,
            AnyMetric::Welford(m) => m,
        }
    }
}

impl Metric for AnyMetric {
    fn update(&mut self, batch: &Batch) -> Result<()> {
        self.inner().update(batch)
    }
    fn compute(&self) -> MetricValue {
        match self {
            AnyMetric::Average(m) => m.compute(),
            AnyMetric::Accuracy(m) => m.compute(),
            AnyMetric::Welford(m) => m.compute(),
        }
    }
    fn reset(&mut self) {
        self.inner().reset()
    }
}

/// Flax's `nnx.MultiMetric(name=metric, ...)`: several metrics updated with the
/// same batch, each at its name's path. Its state can be taken, printed, saved
/// and restored into an existing `MultiMetric` (`Module::update`); rebuilding
/// one with `merge` is an error (the metric types are not in the GraphDef).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_optim::metrics::{Average, Batch, Metric, MultiMetric, Welford};
/// let mut m = MultiMetric::new([("loss", Average::new("loss").into()), ("spread", Welford::new("loss").into())]);
/// m.update(&Batch::new().scalar("loss", 1.0)).unwrap();
/// let paths: Vec<String> = m.state().flat_state().iter().map(|(p, _)| nnx_core::path_string(p)).collect();
/// assert_eq!(paths, ["loss/count", "loss/total", "spread/count", "spread/m2", "spread/mean"]);
/// ```
pub struct MultiMetric(pub BTreeMap<String, AnyMetric>);

impl MultiMetric {
    /// The metrics under their names.
    ///
    /// ```
    /// let m = nnx_optim::metrics::MultiMetric::new([("acc", nnx_optim::metrics::Accuracy::new().into())]);
    /// assert!(m.0.contains_key("acc"));
    /// ```
    pub fn new<'a>(metrics: impl IntoIterator<Item = (&'a str, AnyMetric)>) -> MultiMetric {
        MultiMetric(
            metrics
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    /// Every metric's value, by name (Flax's `compute()` dict).
    ///
    /// ```
    /// let m = nnx_optim::metrics::MultiMetric::new([("acc", nnx_optim::metrics::Accuracy::new().into())]);
    /// assert!(m.compute()["acc"].scalar().unwrap().is_nan());
    /// ```
    pub fn compute(&self) -> BTreeMap<String, MetricValue> {
        self.0
            .iter()
            .map(|(k, m)| (k.clone(), Metric::compute(m)))
            .collect()
    }

    /// Updates every metric with `batch`; on an error no metric changes.
    ///
    /// ```
    /// use nnx_optim::metrics::{Accuracy, Average, Batch, MultiMetric};
    /// let mut m = MultiMetric::new([("acc", Accuracy::new().into()), ("loss", Average::new("loss").into())]);
    /// assert!(m.update(&Batch::new().scalar("loss", 1.0)).is_err()); // no logits
    /// assert!(m.compute()["loss"].scalar().unwrap().is_nan()); // nothing counted
    /// ```
    pub fn update(&mut self, batch: &Batch) -> Result<()> {
        // Validate on a copy of the (scalar) sums so that a failing metric
        // leaves all of them as they were.
        let mut trial = MultiMetric(self.0.iter().map(|(k, m)| (k.clone(), m.copy())).collect());
        for m in trial.0.values_mut() {
            Metric::update(m, batch)?;
        }
        *self = trial;
        Ok(())
    }

    /// Resets every metric.
    ///
    /// ```
    /// use nnx_optim::metrics::{Average, Batch, MultiMetric};
    /// let mut m = MultiMetric::new([("loss", Average::new("loss").into())]);
    /// m.update(&Batch::new().scalar("loss", 1.0)).unwrap();
    /// m.reset();
    /// assert!(m.compute()["loss"].scalar().unwrap().is_nan());
    /// ```
    pub fn reset(&mut self) {
        self.0.values_mut().for_each(Metric::reset);
    }
}

impl AnyMetric {
    /// A copy (metric states are a few scalars).
    fn copy(&self) -> AnyMetric {
        match self {
            AnyMetric::Average(m) => AnyMetric::Average(m.copy()),
            AnyMetric::Accuracy(m) => AnyMetric::Accuracy(Accuracy {
                threshold: m.threshold,
                total: MetricState::new(*m.total),
                count: MetricState::new(*m.count),
            }),
            AnyMetric::Welford(m) => AnyMetric::Welford(Welford {
                argname: m.argname.clone(),
                count: MetricState::new(*m.count),
                mean: MetricState::new(*m.mean),
                m2: MetricState::new(*m.m2),
            }),
        }
    }
}

impl Average {
    fn copy(&self) -> Average {
        Average {
            argname: self.argname.clone(),
            total: MetricState::new(*self.total),
            count: MetricState::new(*self.count),
        }
    }
}

// MultiMetric is its map: the metrics sit directly at their names, as in Flax.
impl Field for MultiMetric {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        self.0.walk_field(key, w)
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, place: Place) -> Action {
        self.0.walk_field_mut(key, w, place)
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        BTreeMap::build_field(key, b).map(MultiMetric)
    }
}

impl Module for MultiMetric {}
