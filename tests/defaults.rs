//! Issue 13: activation, initializer and layer arguments have Flax's defaults.
//!
//! `tests/data/defaults/flax_defaults.json` lists the defaults of jax.nn's
//! activations and initializers and of Flax NNX's layer constructors, read
//! from the installed packages' signatures
//! (`tools/flax_reference/gen_defaults.py`). Each test checks, where Rust can
//! observe it, that nnx uses the listed value: a default-built layer's fields,
//! its initial parameters (drawn again from the listed initializer with the
//! same key), and the `Activation` variants (applied next to the Tensor op
//! called with the listed argument).
//!
//! Not observable here: arguments nnx takes explicitly (Rust has no default
//! arguments: `Tensor::glu(axis)`, `standardize(axes, epsilon)`,
//! `init::normal(stddev)`...), and `dtype`/`param_dtype`/`precision`/
//! `promote_dtype`/`*_metadata` (layers compute in f32; metadata is a
//! separate API).

use std::sync::OnceLock;

use nnx::init::{self, Distribution, FanMode, Init, ParamInit};
use nnx::nn::{
    Activation, BatchNorm, Conv, ConvTranspose, Dropout, Einsum, Embed, Forward, GroupNorm,
    InstanceNorm, LayerNorm, Linear, LinearGeneral, LoRA, MultiHeadAttention, PReLU, Padding,
    RMSNorm, SpectralNorm, WeightNorm,
};
use nnx::prelude::*;
use nnx::tensor::Tensor;
use serde_json::Value as Json;

fn signatures() -> &'static serde_json::Map<String, Json> {
    static TABLE: OnceLock<Json> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            serde_json::from_str(include_str!("data/defaults/flax_defaults.json")).unwrap()
        })
        .get("signatures")
        .and_then(Json::as_object)
        .unwrap()
}

/// The default of `arg` in `function`'s signature.
fn default(function: &str, arg: &str) -> &'static Json {
    signatures()
        .get(function)
        .and_then(|s| s.get(arg))
        .unwrap_or_else(|| panic!("{function}({arg}=..) is not in the table"))
}

fn f64_of(function: &str, arg: &str) -> f64 {
    default(function, arg).as_f64().unwrap()
}

fn f32_of(function: &str, arg: &str) -> f32 {
    f64_of(function, arg) as f32
}

fn bool_of(function: &str, arg: &str) -> bool {
    default(function, arg).as_bool().unwrap()
}

fn int_of(function: &str, arg: &str) -> i64 {
    default(function, arg).as_i64().unwrap()
}

fn str_of(function: &str, arg: &str) -> &'static str {
    default(function, arg).as_str().unwrap()
}

/// An axis argument (`-1` or `[-1]`) as a list.
fn axes_of(function: &str, arg: &str) -> Vec<isize> {
    match default(function, arg) {
        Json::Array(a) => a.iter().map(|v| v.as_i64().unwrap() as isize).collect(),
        v => vec![v.as_i64().unwrap() as isize],
    }
}

/// A list of ints that Flax writes as one int for all spatial axes, or `None` for 1.
fn all_equal_to(function: &str, arg: &str, values: &[usize]) {
    let want = match default(function, arg) {
        Json::Null => 1,
        v => v.as_u64().unwrap() as usize,
    };
    assert!(
        values.iter().all(|&v| v == want),
        "{function}({arg}): nnx {values:?}, Flax {want}"
    );
}

/// The initializer the table describes (`variance_scaling(batch_axis=[], ...)`,
/// `orthogonal(column_axis=-1, scale=1.0)`, `zeros`, `ones`).
fn initializer(text: &str) -> Init<f32> {
    let (name, args) = text.split_once('(').unwrap_or((text, ""));
    let arg = |key: &str| -> &str {
        args.trim_end_matches(')')
            .split(", ")
            .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_else(|| panic!("{key} missing in {text}"))
    };
    let axes = |key: &str| -> Vec<isize> {
        let v = arg(key);
        let v = v.trim_start_matches('[').trim_end_matches(']');
        v.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse().unwrap())
            .collect()
    };
    match name {
        "zeros" => init::zeros(),
        "ones" => init::ones(),
        // Flax's LSTM default: `orthogonal()` cast to the parameter dtype.
        "modified_orthogonal" => init::orthogonal(
            f64_of("jax.nn.initializers.orthogonal", "scale"),
            int_of("jax.nn.initializers.orthogonal", "column_axis") as isize,
        ),
        "orthogonal" => init::orthogonal(
            arg("scale").parse().unwrap(),
            arg("column_axis").parse().unwrap(),
        ),
        "variance_scaling" => init::variance_scaling(
            arg("scale").parse().unwrap(),
            match arg("mode") {
                "fan_in" => FanMode::FanIn,
                "fan_out" => FanMode::FanOut,
                "fan_avg" => FanMode::FanAvg,
                m => panic!("mode {m}"),
            },
            match arg("distribution") {
                "truncated_normal" => Distribution::TruncatedNormal,
                "normal" => Distribution::Normal,
                "uniform" => Distribution::Uniform,
                d => panic!("distribution {d}"),
            },
            &axes("in_axis"),
            &axes("out_axis"),
            &axes("batch_axis"),
        ),
        other => panic!("no nnx counterpart for the initializer {other}"),
    }
}

/// What `function`'s `arg` initializer draws with the first key of
/// `Rngs::new(0)`'s `params` stream, where a default-built layer draws its
/// first parameter.
fn first_draw(function: &str, arg: &str, shape: &[usize]) -> ndarray::ArrayD<f32> {
    let key = Rngs::new(0).next_key("params").unwrap();
    let init: ParamInit<f32> = initializer(str_of(function, arg)).into();
    init.init(key, shape).unwrap().raw_value
}

fn filled(shape: &[usize], value: f32) -> ndarray::ArrayD<f32> {
    ndarray::ArrayD::from_elem(shape, value)
}

/// The constant an initializer named `zeros`/`ones` fills with.
fn constant_of(function: &str, arg: &str) -> f32 {
    match str_of(function, arg) {
        "zeros" => 0.0,
        "ones" => 1.0,
        other => panic!("{function}({arg}) is {other}, not a constant"),
    }
}

#[test]
fn activations_apply_jax_defaults() -> nnx::Result<()> {
    let x = Tensor::from(ndarray::array![[-1.5f32, -0.2, 0.7], [2.0, -3.0, 0.1]]);
    let check = |act: Activation, want: Tensor| {
        assert_eq!(act.apply(&x).unwrap(), want, "{act:?}");
    };
    check(Activation::Elu, x.elu(f32_of("jax.nn.elu", "alpha")));
    check(Activation::Celu, x.celu(f32_of("jax.nn.celu", "alpha")));
    check(
        Activation::LeakyRelu,
        x.leaky_relu(f32_of("jax.nn.leaky_relu", "negative_slope")),
    );
    check(
        Activation::Gelu,
        x.gelu(bool_of("jax.nn.gelu", "approximate")),
    );
    check(
        Activation::Softmax,
        x.softmax(int_of("jax.nn.softmax", "axis") as isize)?,
    );
    check(
        Activation::LogSoftmax,
        x.log_softmax(int_of("jax.nn.log_softmax", "axis") as isize)?,
    );
    // The checks tell the choices apart on this input.
    assert_ne!(x.gelu(true), x.gelu(false));
    assert_ne!(x.softmax(-1)?, x.softmax(0)?);
    assert_ne!(x.elu(1.0), x.elu(0.5));
    // The activations without arguments take none in jax.nn either.
    for f in [
        "relu",
        "relu6",
        "sigmoid",
        "silu",
        "tanh",
        "softplus",
        "soft_sign",
        "log_sigmoid",
        "selu",
        "hard_tanh",
        "hard_sigmoid",
        "hard_silu",
    ] {
        let sig = signatures()[&format!("jax.nn.{f}")].as_object().unwrap();
        assert_eq!(sig.keys().collect::<Vec<_>>(), ["x"], "jax.nn.{f}");
    }
    Ok(())
}

#[test]
fn named_initializers_are_jax_variance_scalings() -> nnx::Result<()> {
    // nnx's zero-argument initializers use jax.nn.initializers' default axes.
    let key = nnx::random::key(7);
    let shape = [3, 4, 5];
    for (name, ours, scale, mode, dist) in [
        (
            "lecun_normal",
            init::lecun_normal::<f32>(),
            1.0,
            FanMode::FanIn,
            Distribution::TruncatedNormal,
        ),
        (
            "lecun_uniform",
            init::lecun_uniform(),
            1.0,
            FanMode::FanIn,
            Distribution::Uniform,
        ),
        (
            "glorot_normal",
            init::glorot_normal(),
            1.0,
            FanMode::FanAvg,
            Distribution::TruncatedNormal,
        ),
        (
            "glorot_uniform",
            init::glorot_uniform(),
            1.0,
            FanMode::FanAvg,
            Distribution::Uniform,
        ),
        (
            "he_normal",
            init::he_normal(),
            2.0,
            FanMode::FanIn,
            Distribution::TruncatedNormal,
        ),
        (
            "he_uniform",
            init::he_uniform(),
            2.0,
            FanMode::FanIn,
            Distribution::Uniform,
        ),
    ] {
        let f = format!("jax.nn.initializers.{name}");
        let want = init::variance_scaling::<f32>(
            scale,
            mode,
            dist,
            &axes_of(&f, "in_axis"),
            &axes_of(&f, "out_axis"),
            &axes_of(&f, "batch_axis"),
        );
        assert_eq!(ours.init(key, &shape)?, want.init(key, &shape)?, "{name}");
    }
    Ok(())
}

#[test]
fn dense_layers_use_flax_defaults() -> nnx::Result<()> {
    let l = Linear::new(2, 3, &mut Rngs::new(0))?;
    assert_eq!(l.use_bias, bool_of("flax.nnx.Linear", "use_bias"));
    assert_eq!(
        l.kernel.to_array(),
        first_draw("flax.nnx.Linear", "kernel_init", &[2, 3])
    );
    let b = constant_of("flax.nnx.Linear", "bias_init");
    assert_eq!(l.bias.unwrap().to_array(), filled(&[3], b));

    let g = LinearGeneral::new(2, &[3, 4], &mut Rngs::new(0))?;
    assert_eq!(g.axis, axes_of("flax.nnx.LinearGeneral", "axis"));
    assert_eq!(
        str_of("flax.nnx.LinearGeneral", "batch_axis"),
        "FrozenDict({})"
    );
    assert!(g.batch_axis.is_empty());
    assert_eq!(g.use_bias, bool_of("flax.nnx.LinearGeneral", "use_bias"));
    // Flax draws LinearGeneral's kernel with the feature axes flattened.
    let flat = first_draw("flax.nnx.LinearGeneral", "kernel_init", &[2, 12]);
    assert_eq!(
        g.kernel
            .to_array()
            .into_shape_with_order(vec![2, 12])
            .unwrap(),
        flat
    );

    let e = Einsum::new("ab,bc->ac", &[2, 3], &mut Rngs::new(0))?;
    assert_eq!(default("flax.nnx.Einsum", "bias_shape"), &Json::Null);
    assert!(e.bias_shape.is_none() && e.bias.is_none());
    assert_eq!(
        e.kernel.to_array(),
        first_draw("flax.nnx.Einsum", "kernel_init", &[2, 3])
    );

    let emb = Embed::new(5, 3, &mut Rngs::new(0))?;
    assert_eq!(
        emb.embedding.to_array(),
        first_draw("flax.nnx.Embed", "embedding_init", &[5, 3])
    );

    let p = PReLU::new();
    assert_eq!(
        p.negative_slope.to_array(),
        filled(&[], f32_of("flax.nnx.PReLU", "negative_slope_init"))
    );

    let lora = LoRA::new(3, 2, 4, &mut Rngs::new(0))?;
    assert_eq!(
        lora.lora_a.to_array(),
        first_draw("flax.nnx.LoRA", "a_initializer", &[3, 2])
    );
    let b = constant_of("flax.nnx.LoRA", "b_initializer");
    assert_eq!(lora.lora_b.to_array(), filled(&[2, 4], b));
    Ok(())
}

#[test]
fn conv_layers_use_flax_defaults() -> nnx::Result<()> {
    let c = Conv::new(2, 3, &[3, 3], &mut Rngs::new(0))?;
    let f = "flax.nnx.Conv";
    all_equal_to(f, "strides", &c.strides);
    all_equal_to(f, "input_dilation", &c.input_dilation);
    all_equal_to(f, "kernel_dilation", &c.kernel_dilation);
    assert_eq!(
        c.feature_group_count as i64,
        int_of(f, "feature_group_count")
    );
    assert_eq!((str_of(f, "padding"), &c.padding), ("SAME", &Padding::Same));
    assert_eq!(c.use_bias, bool_of(f, "use_bias"));
    assert!(c.mask.is_none() && default(f, "mask").is_null());
    assert_eq!(
        c.kernel.to_array(),
        first_draw(f, "kernel_init", &[3, 3, 2, 3])
    );
    assert_eq!(
        c.bias.unwrap().to_array(),
        filled(&[3], constant_of(f, "bias_init"))
    );

    let t = ConvTranspose::new(2, 3, &[3], &mut Rngs::new(0))?;
    let f = "flax.nnx.ConvTranspose";
    all_equal_to(f, "strides", &t.strides);
    all_equal_to(f, "kernel_dilation", &t.kernel_dilation);
    assert_eq!((str_of(f, "padding"), &t.padding), ("SAME", &Padding::Same));
    assert_eq!(t.transpose_kernel, bool_of(f, "transpose_kernel"));
    assert_eq!(t.use_bias, bool_of(f, "use_bias"));
    assert_eq!(
        t.kernel.to_array(),
        first_draw(f, "kernel_init", &[3, 2, 3])
    );
    Ok(())
}

#[test]
fn norm_layers_use_flax_defaults() -> nnx::Result<()> {
    let ones = |f: &str, n: usize| filled(&[n], constant_of(f, "scale_init"));
    let zeros = |f: &str, n: usize| filled(&[n], constant_of(f, "bias_init"));

    let f = "flax.nnx.BatchNorm";
    let bn = BatchNorm::new(3, &mut Rngs::new(0))?;
    assert_eq!(bn.epsilon, f32_of(f, "epsilon"));
    assert_eq!(bn.momentum, f64_of(f, "momentum"));
    assert_eq!(bn.use_running_average, bool_of(f, "use_running_average"));
    assert_eq!(bn.axis as i64, int_of(f, "axis"));
    assert_eq!(
        (bn.use_bias, bn.use_scale, bn.use_fast_variance),
        (
            bool_of(f, "use_bias"),
            bool_of(f, "use_scale"),
            bool_of(f, "use_fast_variance")
        )
    );
    assert_eq!(bn.scale.unwrap().to_array(), ones(f, 3));
    assert_eq!(bn.bias.unwrap().to_array(), zeros(f, 3));

    let f = "flax.nnx.LayerNorm";
    let ln = LayerNorm::new(3, &mut Rngs::new(0))?;
    assert_eq!(ln.epsilon, f32_of(f, "epsilon"));
    assert_eq!(ln.reduction_axes, axes_of(f, "reduction_axes"));
    assert_eq!(ln.feature_axes, axes_of(f, "feature_axes"));
    assert_eq!(
        (ln.use_bias, ln.use_scale, ln.use_fast_variance),
        (
            bool_of(f, "use_bias"),
            bool_of(f, "use_scale"),
            bool_of(f, "use_fast_variance")
        )
    );
    assert_eq!(ln.scale.unwrap().to_array(), ones(f, 3));
    assert_eq!(ln.bias.unwrap().to_array(), zeros(f, 3));

    let f = "flax.nnx.RMSNorm";
    let rms = RMSNorm::new(3, &mut Rngs::new(0))?;
    assert_eq!(rms.epsilon, f32_of(f, "epsilon"));
    assert_eq!(rms.reduction_axes, axes_of(f, "reduction_axes"));
    assert_eq!(rms.feature_axes, axes_of(f, "feature_axes"));
    assert_eq!(
        (rms.use_scale, rms.use_fast_variance),
        (bool_of(f, "use_scale"), bool_of(f, "use_fast_variance"))
    );
    assert_eq!(rms.scale.unwrap().to_array(), ones(f, 3));

    let f = "flax.nnx.GroupNorm";
    let gn = GroupNorm::config(64).build(&mut Rngs::new(0))?;
    assert_eq!(gn.num_groups as i64, int_of(f, "num_groups"));
    assert_eq!(gn.epsilon, f32_of(f, "epsilon"));
    assert_eq!(
        (gn.use_bias, gn.use_scale, gn.use_fast_variance),
        (
            bool_of(f, "use_bias"),
            bool_of(f, "use_scale"),
            bool_of(f, "use_fast_variance")
        )
    );

    let f = "flax.nnx.InstanceNorm";
    let inorm = InstanceNorm::new(3, &mut Rngs::new(0))?;
    assert_eq!(inorm.epsilon, f32_of(f, "epsilon"));
    assert_eq!(inorm.feature_axes, axes_of(f, "feature_axes"));
    assert_eq!(
        (inorm.use_bias, inorm.use_scale, inorm.use_fast_variance),
        (
            bool_of(f, "use_bias"),
            bool_of(f, "use_scale"),
            bool_of(f, "use_fast_variance")
        )
    );
    Ok(())
}

#[test]
fn stateful_and_wrapper_layers_use_flax_defaults() -> nnx::Result<()> {
    let f = "flax.nnx.Dropout";
    let d = Dropout::new(0.5, &mut Rngs::new(0))?;
    assert!(d.broadcast_dims.is_empty() && default(f, "broadcast_dims") == &Json::Array(vec![]));
    assert_eq!(d.deterministic, bool_of(f, "deterministic"));
    assert_eq!(d.rng_collection, str_of(f, "rng_collection"));

    let f = "flax.nnx.MultiHeadAttention";
    let mha = MultiHeadAttention::new(2, 4, &mut Rngs::new(0))?;
    assert_eq!(mha.broadcast_dropout, bool_of(f, "broadcast_dropout"));
    assert_eq!(mha.dropout_rate, f64_of(f, "dropout_rate"));
    assert_eq!(mha.use_bias, bool_of(f, "use_bias"));
    assert_eq!(mha.normalize_qk, bool_of(f, "normalize_qk"));
    // Flax leaves `decode` and `deterministic` unset (None) and then fails
    // every call that does not pass them; nnx starts from False (README,
    // "Choices").
    assert!(default(f, "decode").is_null() && default(f, "deterministic").is_null());
    assert!(!mha.decode && !mha.deterministic);
    // The projections are `(in, heads, head_dim)` kernels drawn as `(in, heads * head_dim)`.
    let q = mha
        .query
        .kernel
        .to_array()
        .into_shape_with_order(vec![4, 4])
        .unwrap();
    assert_eq!(q, first_draw(f, "kernel_init", &[4, 4]));

    let f = "flax.nnx.SpectralNorm";
    let sn = SpectralNorm::new(Linear::new(2, 3, &mut Rngs::new(0))?, &mut Rngs::new(0))?;
    assert_eq!(sn.n_steps as i64, int_of(f, "n_steps"));
    assert_eq!(sn.epsilon, f32_of(f, "epsilon"));
    assert_eq!(sn.error_on_non_matrix, bool_of(f, "error_on_non_matrix"));
    assert_eq!(sn.use_running_average, !bool_of(f, "update_stats"));

    let f = "flax.nnx.WeightNorm";
    let wn = WeightNorm::new(Linear::new(2, 3, &mut Rngs::new(0))?, &mut Rngs::new(0))?;
    assert_eq!(wn.feature_axes, axes_of(f, "feature_axes"));
    assert_eq!(wn.use_scale, bool_of(f, "use_scale"));
    assert_eq!(wn.epsilon, f32_of(f, "epsilon"));
    assert_eq!(
        str_of(f, "variable_filter"),
        "PathContains('kernel', exact=True)"
    );
    assert_eq!(wn.variable_filter, "kernel");
    Ok(())
}

#[test]
fn recurrent_layers_use_flax_defaults() -> nnx::Result<()> {
    let f = "flax.nnx.RNN";
    let rnn = nnx::nn::RNN::new(nnx::nn::SimpleCell::new(2, 3, &mut Rngs::new(0))?);
    assert_eq!(
        (rnn.time_major, rnn.reverse, rnn.keep_order),
        (
            bool_of(f, "time_major"),
            bool_of(f, "reverse"),
            bool_of(f, "keep_order")
        )
    );
    for cell in ["SimpleCell", "LSTMCell", "OptimizedLSTMCell", "GRUCell"] {
        let f = format!("flax.nnx.{cell}");
        assert_eq!(str_of(&f, "activation_fn"), "tanh", "{cell}");
        assert_eq!(str_of(&f, "bias_init"), "zeros", "{cell}");
        // nnx's documented defaults: lecun_normal input kernels, orthogonal
        // recurrent kernels (default-built cells draw Flax's values:
        // nnx-layers/tests/families_conformance.rs).
        let lecun = init::lecun_normal::<f32>().init(nnx::random::key(1), &[3, 4])?;
        assert_eq!(
            initializer(str_of(&f, "kernel_init")).init(nnx::random::key(1), &[3, 4])?,
            lecun
        );
        let orth = init::orthogonal::<f32>(1.0, -1).init(nnx::random::key(1), &[4, 4])?;
        assert_eq!(
            initializer(str_of(&f, "recurrent_kernel_init")).init(nnx::random::key(1), &[4, 4])?,
            orth,
            "{cell}"
        );
        if cell != "SimpleCell" {
            assert_eq!(str_of(&f, "gate_fn"), "sigmoid", "{cell}");
        }
    }
    assert!(!bool_of("flax.nnx.SimpleCell", "residual"));
    Ok(())
}
