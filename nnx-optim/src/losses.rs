//! optax's losses on [`Tensor`], differentiable: one value per example (the
//! caller reduces, e.g. with `.mean()`), computed so that large logits neither
//! overflow nor lose their gradient.

use ndarray::{ArrayBase, ArrayD, Data, Dimension, IxDyn, Zip};
use nnx_core::{Error, Result};
use nnx_tensor::{Element, Tensor};

fn same_shape(op: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.shape() == b.shape() {
        return Ok(());
    }
    Err(Error::ShapeMismatch {
        path: op.into(),
        expected: format!(
            "labels of the logits' shape {}",
            nnx_core::repr::fmt_tuple_usize(a.shape())
        ),
        found: nnx_core::repr::fmt_tuple_usize(b.shape()),
    })
}

/// optax's `softmax_cross_entropy_with_integer_labels(logits, labels)`:
/// `logsumexp(logits) - logits[label]` over the last axis, one value per
/// example. `labels` has the logits' shape without the last axis; a label out
/// of range is an error. Float32 or float64 logits.
///
/// ```
/// use nnx_optim::optax::softmax_cross_entropy_with_integer_labels;
/// let logits = nnx_tensor::Tensor::from(ndarray::arr2(&[[0.0f32, 0.0], [1000.0, 0.0]]));
/// let loss = softmax_cross_entropy_with_integer_labels(&logits, &ndarray::arr1(&[1i64, 0])).unwrap();
/// assert_eq!(loss.to_array(), ndarray::arr1(&[std::f32::consts::LN_2, 0.0]).into_dyn());
/// assert!(softmax_cross_entropy_with_integer_labels(&logits, &ndarray::arr1(&[2i64, 0])).is_err());
/// ```
pub fn softmax_cross_entropy_with_integer_labels<E, A, S, D>(
    logits: &Tensor<E>,
    labels: &ArrayBase<S, D>,
) -> Result<Tensor<E>>
where
    E: Element,
    A: Copy + TryInto<i64>,
    S: Data<Elem = A>,
    D: Dimension,
{
    let batch = logits.shape().split_last().map(|(_, b)| b).unwrap_or(&[]);
    if logits.ndim() == 0 || labels.shape() != batch {
        return Err(Error::ShapeMismatch {
            path: "softmax_cross_entropy_with_integer_labels".into(),
            expected: format!(
                "labels of shape {} (the logits' {} without the class axis)",
                nnx_core::repr::fmt_tuple_usize(batch),
                nnx_core::repr::fmt_tuple_usize(logits.shape())
            ),
            found: nnx_core::repr::fmt_tuple_usize(labels.shape()),
        });
    }
    let mut index_shape = batch.to_vec();
    index_shape.push(1);
    let indices = labels
        .iter()
        .map(|&l| {
            l.try_into().map_err(|_| {
                Error::invalid_argument(
                    "softmax_cross_entropy_with_integer_labels",
                    "integer labels",
                    "a label beyond i64",
                )
            })
        })
        .collect::<Result<Vec<i64>>>()?;
    let indices = ArrayD::from_shape_vec(IxDyn(&index_shape), indices).map_err(|e| {
        Error::invalid_argument(
            "softmax_cross_entropy_with_integer_labels",
            "labels",
            e.to_string(),
        )
    })?;
    let label_logits = logits.take_along_axis(&indices, -1)?.reshape(batch)?;
    logits.logsumexp(&[-1], false)? - label_logits
}

/// optax's `softmax_cross_entropy(logits, labels)`: `-sum(labels *
/// log_softmax(logits))` over the last axis, for one-hot or probability labels
/// of the logits' shape.
///
/// ```
/// use nnx_optim::optax::softmax_cross_entropy;
/// use nnx_tensor::Tensor;
/// let logits = Tensor::from(ndarray::arr2(&[[0.0f32, 0.0]]));
/// let labels = Tensor::from(ndarray::arr2(&[[0.0f32, 1.0]]));
/// let loss = softmax_cross_entropy(&logits, &labels).unwrap();
/// assert_eq!(loss.to_array(), ndarray::arr1(&[std::f32::consts::LN_2]).into_dyn());
/// ```
pub fn softmax_cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    same_shape("softmax_cross_entropy", logits, labels)?;
    Ok(-(labels * &logits.log_softmax(-1)?)?.sum_axes(&[-1], false)?)
}

/// optax's `sigmoid_binary_cross_entropy(logits, labels)`: elementwise
/// `-z log σ(x) - (1 - z) log σ(-x)`, computed as `z softplus(-x) + (1 - z)
/// softplus(x)` so that large logits stay finite. Labels (0/1 or
/// probabilities) have the logits' shape.
///
/// ```
/// use nnx_optim::optax::sigmoid_binary_cross_entropy;
/// use nnx_tensor::Tensor;
/// let logits = Tensor::from(ndarray::arr1(&[0.0f32, 200.0]));
/// let labels = Tensor::from(ndarray::arr1(&[1.0f32, 0.0]));
/// let loss = sigmoid_binary_cross_entropy(&logits, &labels).unwrap();
/// assert_eq!(loss.to_array(), ndarray::arr1(&[std::f32::consts::LN_2, 200.0]).into_dyn());
/// ```
pub fn sigmoid_binary_cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    same_shape("sigmoid_binary_cross_entropy", logits, labels)?;
    // Built from Tensor's stable softplus, whose rule gives d/dx = sigmoid(x) - z.
    let positive = (labels * &(-logits).softplus())?;
    let negative = (&(1.0 - labels) * &logits.softplus())?;
    positive + negative
}

/// `predictions - targets`, or `predictions` alone.
fn errors(predictions: &Tensor, targets: Option<&Tensor>) -> Result<Tensor> {
    match targets {
        Some(t) => predictions - t,
        None => Ok(predictions.clone()),
    }
}

/// optax's `squared_error(predictions, targets=None)`: `(predictions -
/// targets)²` elementwise (broadcasting).
///
/// ```
/// use nnx_tensor::Tensor;
/// let p = Tensor::from(ndarray::arr1(&[1.0f32, 3.0]));
/// let t = Tensor::from(ndarray::arr1(&[0.0f32, 1.0]));
/// let e = nnx_optim::optax::squared_error(&p, Some(&t)).unwrap();
/// assert_eq!(e.to_array(), ndarray::arr1(&[1.0f32, 4.0]).into_dyn());
/// ```
pub fn squared_error(predictions: &Tensor, targets: Option<&Tensor>) -> Result<Tensor> {
    Ok(errors(predictions, targets)?.square())
}

/// optax's `l2_loss(predictions, targets=None)`: half the [`squared_error`].
///
/// ```
/// let p = nnx_tensor::Tensor::from(ndarray::arr1(&[2.0f32]));
/// assert_eq!(nnx_optim::optax::l2_loss(&p, None).unwrap().to_array(), ndarray::arr1(&[2.0f32]).into_dyn());
/// ```
pub fn l2_loss(predictions: &Tensor, targets: Option<&Tensor>) -> Result<Tensor> {
    Ok(0.5 * squared_error(predictions, targets)?)
}

/// optax's `huber_loss(predictions, targets=None, delta)`: `0.5 e²` where
/// `|e| <= delta`, `delta (|e| - 0.5 delta)` beyond, with `e = predictions -
/// targets`.
///
/// ```
/// use nnx_tensor::Tensor;
/// let p = Tensor::from(ndarray::arr1(&[0.5f32, -3.0]));
/// let h = nnx_optim::optax::huber_loss(&p, None, 1.0).unwrap();
/// assert_eq!(h.to_array(), ndarray::arr1(&[0.125f32, 2.5]).into_dyn());
/// ```
pub fn huber_loss(predictions: &Tensor, targets: Option<&Tensor>, delta: f32) -> Result<Tensor> {
    let e = errors(predictions, targets)?;
    let out = e.array().mapv(|e| {
        let q = e.abs().min(delta);
        0.5 * q * q + delta * (e.abs() - q)
    });
    let saved = e.clone();
    Ok(Tensor::from_op("huber_loss", out, [&e], move |g, _| {
        [Some(Zip::from(g).and(saved.array()).map_collect(
            |&g, &e| {
                g * if e.abs() <= delta {
                    e
                } else {
                    delta * e.signum()
                }
            },
        ))]
    }))
}

/// `max(x, floor)` elementwise, passing the gradient where `x >= floor`.
fn clip_min(x: &Tensor, floor: f32) -> Tensor {
    let saved = x.clone();
    Tensor::from_op(
        "clip",
        x.array().mapv(|v| v.max(floor)),
        [x],
        move |g, _| {
            [Some(
                Zip::from(g)
                    .and(saved.array())
                    .map_collect(|&g, &v| if v >= floor { g } else { 0.0 }),
            )]
        },
    )
}

/// optax's `cosine_distance(predictions, targets, epsilon)`: `1 -
/// cosine_similarity` over the last axis, each squared norm clipped below at
/// `epsilon` (so zero vectors need `epsilon > 0` to stay finite).
///
/// ```
/// use nnx_tensor::Tensor;
/// let p = Tensor::from(ndarray::arr2(&[[1.0f32, 0.0], [1.0, 1.0]]));
/// let t = Tensor::from(ndarray::arr2(&[[0.0f32, 2.0], [3.0, 3.0]]));
/// let d = nnx_optim::optax::cosine_distance(&p, &t, 0.0).unwrap().to_array();
/// assert!((d[0] - 1.0).abs() < 1e-6 && d[1].abs() < 1e-6);
/// ```
pub fn cosine_distance(predictions: &Tensor, targets: &Tensor, epsilon: f32) -> Result<Tensor> {
    same_shape("cosine_distance", predictions, targets)?;
    let unit = |x: &Tensor| -> Result<Tensor> {
        let norm = clip_min(&x.square().sum_axes(&[-1], true)?, epsilon).sqrt();
        x / &norm
    };
    let similarity = (unit(predictions)? * unit(targets)?)?.sum_axes(&[-1], false)?;
    Ok(1.0 - similarity)
}
