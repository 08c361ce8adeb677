//! What `Conv` and `ConvTranspose` share: their common options with Flax's
//! defaults and setters, the checks of those options when the layer is built,
//! and the masked kernel plus bias around the forward pass.

use nnx_core::rngs::Rngs;
use nnx_core::{Param, Result};
use nnx_tensor::{Element, Tensor};

use crate::functional::{per_axis, Padding};
use crate::mask::KernelMask;
use crate::param::{opt_tensor_param, tensor_param, KernelBias};
use crate::support::{check_config, check_shape};

type OptBias<E> = Option<Param<Tensor<E>>>;

/// The options both convolutions take.
#[derive(Debug, Clone)]
pub(crate) struct ConvBase<E: Element> {
    pub(crate) in_features: usize,
    pub(crate) out_features: usize,
    pub(crate) kernel_size: Vec<usize>,
    pub(crate) strides: Vec<usize>,
    pub(crate) padding: Padding,
    pub(crate) kernel_dilation: Vec<usize>,
    pub(crate) mask: Option<KernelMask>,
    pub(crate) init: KernelBias<E>,
}

impl<E: Element> ConvBase<E> {
    /// Flax's defaults: stride 1, `Same` padding, no dilation, and
    /// [`KernelBias`]'s.
    pub(crate) fn new(in_features: usize, out_features: usize, kernel_size: &[usize]) -> Self {
        ConvBase {
            in_features,
            out_features,
            kernel_size: kernel_size.to_vec(),
            strides: vec![1],
            padding: Padding::Same,
            kernel_dilation: vec![1],
            mask: None,
            init: KernelBias::default(),
        }
    }

    /// Checks the options `layer` cannot work without and returns the strides
    /// and kernel dilation with one value per spatial axis.
    pub(crate) fn check(&self, layer: &str) -> Result<(Vec<usize>, Vec<usize>)> {
        let n = self.kernel_size.len();
        check_config(
            n > 0 && !self.kernel_size.contains(&0),
            &format!("{layer} kernel_size"),
            "at least one spatial axis, each of positive size",
            format!("{:?}", self.kernel_size),
        )?;
        check_config(
            self.in_features > 0 && self.out_features > 0,
            &format!("{layer} in_features / out_features"),
            "positive feature counts",
            format!("{} / {}", self.in_features, self.out_features),
        )?;
        let strides = per_axis(&format!("{layer} strides"), &self.strides, n)?;
        let dilation = per_axis(
            &format!("{layer} kernel_dilation"),
            &self.kernel_dilation,
            n,
        )?;
        if let Padding::Explicit(p) = &self.padding {
            check_config(
                p.len() == n,
                &format!("{layer} padding"),
                &format!("{n} (low, high) pairs, one per spatial axis"),
                format!("{p:?}"),
            )?;
        }
        Ok((strides, dilation))
    }

    /// Draws the kernel (of `kernel_shape`, which the mask must have too), then
    /// the bias, from the `params` stream.
    pub(crate) fn params(
        &self,
        rngs: &mut Rngs,
        kernel_shape: &[usize],
    ) -> Result<(Param<Tensor<E>>, OptBias<E>)> {
        check_mask(&self.mask, kernel_shape)?;
        let kernel = tensor_param(
            &self.init.kernel_init,
            rngs.next_key("params")?,
            kernel_shape,
        )?;
        let bias = opt_tensor_param(rngs, self.init.bias(), &[self.out_features])?;
        Ok((kernel, bias))
    }
}

/// Checks a mask against the kernel's shape.
fn check_mask(mask: &Option<KernelMask>, kernel_shape: &[usize]) -> Result<()> {
    match mask {
        Some(m) => check_shape("mask", m.0.shape(), kernel_shape),
        None => Ok(()),
    }
}

/// The forward pass around the convolution `conv`: checks that the kernel,
/// mask and bias still have the shapes the layer's options imply, applies the
/// mask to the kernel (only when there is one), then has `conv` compute the
/// convolution with the kernel plus the bias (when there is one).
pub(crate) fn forward_masked<E: Element>(
    kernel: &Tensor<E>,
    kernel_shape: &[usize],
    mask: &Option<KernelMask>,
    bias: &OptBias<E>,
    out_features: usize,
    conv: impl FnOnce(&Tensor<E>, Option<&Tensor<E>>) -> Result<Tensor<E>>,
) -> Result<Tensor<E>> {
    check_shape("kernel", kernel.shape(), kernel_shape)?;
    check_mask(mask, kernel_shape)?;
    if let Some(b) = bias {
        check_shape("bias", b.shape(), &[out_features])?;
    }
    let bias = bias.as_ref().map(|b| &**b);
    match mask {
        // The mask is f32 (a static hyperparameter must hash); widening is exact.
        Some(m) => {
            let widen = |v: f32| <E as nnx_core::random::Float>::from_f64(f64::from(v));
            conv(&(kernel * &Tensor::from_array(m.0.mapv(widen)))?, bias)
        }
        None => conv(kernel, bias),
    }
}

/// The setters of [`ConvBase`]'s options on a config holding it as `base`;
/// `$ctor` builds the config `(1, 2, &[3])` in the doc examples.
macro_rules! conv_setters {
    ($cfg:ident = $ctor:literal) => {
        $crate::support::setters!($cfg<E>.base.init = $ctor { use_bias: bool });
        $crate::support::vec_setters!($cfg<E>.base = $ctor { strides: usize, kernel_dilation: usize });
        $crate::support::init_setters!($cfg<E>.base.init = $ctor {
            kernel_init ("lecun_normal()") => "layer.kernel.array()",
            bias_init ("zeros()") => "layer.bias.as_ref().unwrap().array()",
        });
        impl<E: ::nnx_tensor::Element> $cfg<E> {
            #[doc = "The padding (default `Same`)."]
            #[doc = ""]
            #[doc = "```"]
            #[doc = "use nnx_layers::functional::Padding;"]
            #[doc = concat!("let c = ", $ctor, ".padding(Padding::Valid).build(&mut nnx_core::rngs::Rngs::new(0))?;")]
            #[doc = "assert_eq!(c.padding, Padding::Valid);"]
            #[doc = "# Ok::<(), nnx_core::Error>(())"]
            #[doc = "```"]
            pub fn padding(mut self, padding: $crate::functional::Padding) -> Self {
                self.base.padding = padding;
                self
            }

            #[doc = "A mask of the kernel's shape, multiplied into the kernel on every forward (default none)."]
            #[doc = ""]
            #[doc = "```"]
            #[doc = "let mask = ndarray::Array3::<f32>::zeros((3, 1, 2)).into_dyn();"]
            #[doc = concat!("let c = ", $ctor, ".mask(mask).build(&mut nnx_core::rngs::Rngs::new(0))?;")]
            #[doc = "let y = c.apply(&nnx_tensor::Tensor::ones(&[1, 4, 1]))?;"]
            #[doc = "assert!(y.array().iter().all(|&v| v == 0.0));"]
            #[doc = "# Ok::<(), nnx_core::Error>(())"]
            #[doc = "```"]
            pub fn mask(mut self, mask: ::ndarray::ArrayD<f32>) -> Self {
                self.base.mask = Some($crate::KernelMask(mask));
                self
            }
        }
    };
}
pub(crate) use conv_setters;
