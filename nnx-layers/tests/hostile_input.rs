//! Regression tests for issue 11's classes of careless or hostile input to the
//! layers: no panic, no silently wrong shape, no half-applied change, configs
//! that can never work rejected when built. Shapes marked "Flax" were checked
//! against Flax NNX 0.12.8.

use nnx_core::prelude::*;
use nnx_core::rngs::Rngs;
use nnx_core::Result;
use nnx_layers::functional::{avg_pool, max_pool, Padding};
use nnx_layers::*;
use nnx_tensor::Tensor;

fn rngs() -> Rngs {
    Rngs::new(0)
}

/// The error's message, which must name `parts` (path or option, expected, found).
fn message_of<T: std::fmt::Debug>(r: Result<T>, parts: &[&str]) -> String {
    let msg = match r {
        Err(e) => e.to_string(),
        Ok(v) => panic!("expected an error naming {parts:?}, got Ok({v:?})"),
    };
    for p in parts {
        assert!(msg.contains(p), "{msg:?} does not name {p:?}");
    }
    msg
}

fn ones_t(shape: &[usize]) -> Tensor {
    Tensor::ones(shape)
}

// ---- class 1: no panic on user input

#[test]
fn attention_rejects_inputs_without_a_length_axis() -> Result<()> {
    // Flax raises IndexError here; dropout in training mode used to underflow.
    let mut m = MultiHeadAttention::config(2, 4)
        .dropout_rate(0.5)
        .build(&mut rngs())?;
    message_of(
        m.forward(&ones_t(&[4])),
        &["inputs_q", "(..., length, 4)", "(4,)"],
    );
    let mut plain = MultiHeadAttention::new(2, 4, &mut rngs())?;
    assert!(plain.forward(&ones_t(&[4])).is_err());
    Ok(())
}

#[test]
fn wrapping_paddings_reject_an_empty_axis() -> Result<()> {
    // Flax: "Cannot apply 'wrap' padding to empty axis" (and 'reflect').
    for padding in [Padding::Circular, Padding::Reflect] {
        let conv = Conv::config(1, 2, &[3])
            .padding(padding)
            .build(&mut rngs())?;
        message_of(
            conv.apply(&Tensor::ones(&[1, 0, 1])),
            &["x", "non-empty", "(1, 0, 1)"],
        );
    }
    Ok(())
}

#[test]
fn huge_geometry_is_an_error_not_an_overflow() -> Result<()> {
    let big = 1usize << 62;
    let x = Tensor::ones(&[1, 4, 1]);
    for padding in [Padding::Same, Padding::Valid, Padding::Circular] {
        let conv = Conv::config(1, 1, &[3])
            .kernel_dilation(&[big])
            .padding(padding)
            .build(&mut rngs())?;
        assert!(conv.apply(&x).is_err());
    }
    let conv = Conv::config(1, 1, &[3])
        .input_dilation(&[big])
        .padding(Padding::Explicit(vec![(1, 1)]))
        .build(&mut rngs())?;
    assert!(conv.apply(&x).is_err());
    let conv = Conv::config(1, 1, &[3])
        .padding(Padding::Explicit(vec![(usize::MAX, usize::MAX)]))
        .build(&mut rngs())?;
    message_of(conv.apply(&x), &["conv padding", "fit in memory"]);
    // An empty batch does not make an output of 2^41 x 2^41 positions harmless.
    let conv = Conv::config(1, 1, &[1, 1])
        .padding(Padding::Explicit(vec![(1 << 40, 1 << 40); 2]))
        .build(&mut rngs())?;
    message_of(
        conv.apply(&Tensor::ones(&[0, 2, 2, 1])),
        &["conv output", "fit in memory", "2199023255554 positions"],
    );
    for padding in [Padding::Same, Padding::Valid, Padding::Circular] {
        let t = ConvTranspose::config(1, 1, &[3])
            .strides(&[big])
            .padding(padding)
            .build(&mut rngs())?;
        assert!(t.apply(&x).is_err());
    }
    let x3 = Tensor::ones(&[1, 4, 1]);
    let huge_pad = Padding::Explicit(vec![(usize::MAX, 1)]);
    assert!(avg_pool(&x3, &[2], &[1], &huge_pad, true).is_err());
    assert!(max_pool(&x3, &[usize::MAX], &[1], &Padding::Same).is_err());
    Ok(())
}

// ---- class 2: forward checks the Variables it uses

#[test]
fn reassigned_parameters_are_reported_by_path() -> Result<()> {
    let mut lin = Linear::new(2, 3, &mut rngs())?;
    *lin.kernel = ones_t(&[3, 5]);
    message_of(
        lin.forward(&ones_t(&[1, 2])),
        &["kernel", "(2, 3)", "(3, 5)"],
    );
    let mut lin = Linear::new(2, 3, &mut rngs())?;
    if let Some(b) = lin.bias.as_mut() {
        b.set_value(nnx_tensor::Tensor::zeros(&[4]));
    }
    message_of(lin.forward(&ones_t(&[1, 2])), &["bias", "(3,)", "(4,)"]);

    let mut bn = BatchNorm::new(3, &mut rngs())?;
    assert_eq!(bn.set_attributes("num_features", 5usize)?, 1);
    message_of(bn.forward(&ones_t(&[2, 5])), &["mean", "(5,)", "(3,)"]);

    let mut conv = Conv::new(2, 4, &[3], &mut rngs())?;
    *conv.kernel = Tensor::ones(&[3, 4, 2]);
    message_of(
        conv.forward(&Tensor::ones(&[1, 5, 2])),
        &["kernel", "(3, 2, 4)", "(3, 4, 2)"],
    );
    let mut conv = Conv::new(2, 4, &[3], &mut rngs())?;
    assert_eq!(conv.set_attributes("feature_group_count", 0usize)?, 1);
    message_of(
        conv.forward(&Tensor::ones(&[1, 5, 2])),
        &["feature_group_count", "0"],
    );

    let mut t = ConvTranspose::new(2, 4, &[3], &mut rngs())?;
    if let Some(b) = t.bias.as_mut() {
        **b = Tensor::zeros(&[1]);
    }
    message_of(
        t.forward(&Tensor::ones(&[1, 5, 2])),
        &["bias", "(4,)", "(1,)"],
    );

    let mut lg = LinearGeneral::new(3, &[2, 4], &mut rngs())?;
    *lg.kernel = ones_t(&[3, 8]);
    message_of(
        lg.forward(&ones_t(&[1, 3])),
        &["kernel", "(3, 2, 4)", "(3, 8)"],
    );

    let mut e = Einsum::config("ab,bc->ac", &[2, 3])
        .bias_shape(&[3])
        .build(&mut rngs())?;
    if let Some(b) = e.bias.as_mut() {
        **b = ones_t(&[7]);
    }
    message_of(e.forward(&ones_t(&[1, 2])), &["bias", "(3,)", "(7,)"]);

    let mut emb = Embed::new(5, 3, &mut rngs())?;
    *emb.embedding = nnx_tensor::Tensor::zeros(&[2, 3]);
    message_of(
        emb.lookup(&ndarray::array![4usize]),
        &["embedding", "(5, 3)", "(2, 3)"],
    );
    assert!(emb.attend(&ones_t(&[1, 3])).is_err());

    let mut ln = LayerNorm::new(3, &mut rngs())?;
    if let Some(s) = ln.scale.as_mut() {
        **s = Tensor::ones(&[2]);
    }
    message_of(ln.forward(&ones_t(&[1, 3])), &["scale", "(3,)", "(2,)"]);
    let mut rms = RMSNorm::new(3, &mut rngs())?;
    assert_eq!(rms.set_attributes("epsilon", -1.0f32)?, 1);
    message_of(rms.forward(&ones_t(&[1, 3])), &["RMSNorm epsilon", "-1"]);
    let mut gn = GroupNorm::new(4, 2, &mut rngs())?;
    assert_eq!(gn.set_attributes("num_groups", 3usize)?, 1);
    message_of(gn.forward(&ones_t(&[1, 4])), &["num_groups", "3"]);
    let mut inorm = InstanceNorm::new(3, &mut rngs())?;
    if let Some(b) = inorm.bias.as_mut() {
        **b = Tensor::ones(&[1]);
    }
    message_of(
        inorm.forward(&ones_t(&[1, 2, 3])),
        &["bias", "(3,)", "(1,)"],
    );
    Ok(())
}

#[test]
fn attention_checks_its_projections() -> Result<()> {
    let mut m = MultiHeadAttention::new(2, 4, &mut rngs())?;
    assert_eq!(m.set_attributes("num_heads", 4usize)?, 1);
    message_of(
        m.forward(&ones_t(&[1, 3, 4])),
        &["query/kernel", "(4, 4, 2)", "(4, 2, 2)"],
    );
    let mut m = MultiHeadAttention::new(2, 4, &mut rngs())?;
    // Not set_attributes: the projections (LinearGeneral) have their own
    // `out_features`, of another type.
    m.out_features = 5;
    message_of(
        m.forward(&ones_t(&[1, 3, 4])),
        &["out/kernel", "(2, 2, 5)", "(2, 2, 4)"],
    );
    Ok(())
}

// ---- class 3: shapes as Flax computes them

#[test]
fn same_padding_on_an_empty_axis_gives_an_empty_axis() -> Result<()> {
    // Flax: Conv SAME on (1, 0, 1) -> (1, 0, 2), for k=3, k=1 and stride 2.
    for (k, s) in [(3, 1), (1, 1), (3, 2)] {
        let conv = Conv::config(1, 2, &[k]).strides(&[s]).build(&mut rngs())?;
        assert_eq!(conv.apply(&Tensor::ones(&[1, 0, 1]))?.shape(), &[1, 0, 2]);
    }
    // Flax: avg_pool((1, 0, 1), (2,), strides=(2,), 'SAME') -> (1, 0, 1); max_pool too.
    let x = Tensor::ones(&[1, 0, 1]);
    assert_eq!(
        avg_pool(&x, &[2], &[2], &Padding::Same, true)?.shape(),
        &[1, 0, 1]
    );
    assert_eq!(
        max_pool(&x, &[3], &[1], &Padding::Same)?.shape(),
        &[1, 0, 1]
    );
    // Flax: ConvTranspose on (1, 0, 1): SAME -> (1, 0, 2), VALID -> (1, 2, 2),
    // CIRCULAR raises ZeroDivisionError.
    let t = ConvTranspose::new(1, 2, &[3], &mut rngs())?;
    assert_eq!(t.apply(&Tensor::ones(&[1, 0, 1]))?.shape(), &[1, 0, 2]);
    let t = ConvTranspose::config(1, 2, &[3])
        .padding(Padding::Valid)
        .build(&mut rngs())?;
    assert_eq!(t.apply(&Tensor::ones(&[1, 0, 1]))?.shape(), &[1, 2, 2]);
    let t = ConvTranspose::config(1, 2, &[3])
        .padding(Padding::Circular)
        .build(&mut rngs())?;
    message_of(
        t.apply(&Tensor::ones(&[1, 0, 1])),
        &["x", "Circular", "(1, 0, 1)"],
    );
    Ok(())
}

// ---- class 7: no poisoned statistics

#[test]
fn batchnorm_training_on_an_empty_batch_changes_nothing() -> Result<()> {
    let mut bn = BatchNorm::new(3, &mut rngs())?;
    bn.forward(&ndarray::array![[1.0f32, 2.0, 3.0], [3.0, 2.0, 1.0]].into())?;
    let before = (bn.mean.value().clone(), bn.var.value().clone());
    message_of(bn.forward(&ones_t(&[0, 3])), &["x", "non-empty", "(0, 3)"]);
    assert_eq!((bn.mean.value(), bn.var.value()), (&before.0, &before.1));
    assert!(bn.mean.array().iter().all(|v| v.is_finite()));
    bn.eval()?;
    assert_eq!(bn.forward(&ones_t(&[0, 3]))?.shape(), &[0, 3]);
    Ok(())
}

// ---- class 8: configs that can never work are rejected when built

#[test]
fn impossible_configs_are_rejected_at_build() {
    for rate in [1.5, -0.1, f64::NAN] {
        let m = message_of(Dropout::new(rate, &mut rngs()), &["Dropout rate", "[0, 1]"]);
        assert!(m.contains(&rate.to_string()), "{m}");
        assert!(Dropout::config(rate).build_without_rngs().is_err());
        assert!(MultiHeadAttention::config(2, 4)
            .dropout_rate(rate)
            .build(&mut rngs())
            .is_err());
    }
    message_of(
        BatchNorm::config(3).momentum(f64::NAN).build(&mut rngs()),
        &["BatchNorm momentum", "NaN"],
    );
    message_of(
        BatchNorm::config(3).epsilon(-1e-5).build(&mut rngs()),
        &["BatchNorm epsilon", ">= 0"],
    );
    assert!(LayerNorm::config(3)
        .epsilon(f32::NAN)
        .build(&mut rngs())
        .is_err());
    assert!(GroupNorm::config(4)
        .num_groups(Some(2))
        .epsilon(f32::INFINITY)
        .build(&mut rngs())
        .is_err());
    for eq in [
        "ab,bc->ac->a",
        "ab,bc",
        "ab,bc,cd->ad",
        "ab->ba",
        "a1,bc->ac",
        "a.b,bc->ac",
        "....a,ab->b",
        "aa,ab->b",
        "ab,bc->ad",
        "ab,bc->...c",
    ] {
        message_of(Einsum::new(eq, &[2, 3], &mut rngs()), &["einsum_str", eq]);
    }
    // The kernel's term must fit kernel_shape.
    message_of(
        Einsum::new("ab,bcd->acd", &[2, 3], &mut rngs()),
        &["Einsum kernel_shape", "(2, 3)"],
    );
    // Flax fails on these too (its initializers divide by a zero fan).
    message_of(
        Linear::new(0, 3, &mut rngs()),
        &["Linear in_features", "0 / 3"],
    );
    assert!(Linear::new(3, 0, &mut rngs()).is_err());
    assert!(Embed::new(0, 3, &mut rngs()).is_err());
    assert!(LinearGeneral::new(3, &[0], &mut rngs()).is_err());
    assert!(Conv::new(1, 2, &[0], &mut rngs()).is_err());
    // Zero strides or dilations, also given once for every axis.
    let conv = |c: ConvConfig| c.build(&mut rngs());
    message_of(
        conv(Conv::config(1, 2, &[3, 3]).strides(&[0])),
        &["Conv strides", "positive", "[0]"],
    );
    assert!(conv(Conv::config(1, 2, &[3, 3]).kernel_dilation(&[0])).is_err());
    assert!(conv(Conv::config(1, 2, &[3, 3]).input_dilation(&[0])).is_err());
    assert!(conv(Conv::config(1, 2, &[3, 3]).strides(&[1, 0])).is_err());
    assert!(ConvTranspose::config(1, 2, &[3])
        .strides(&[0])
        .build(&mut rngs())
        .is_err());
    // A single value still broadcasts.
    assert!(conv(Conv::config(1, 2, &[3, 3]).strides(&[2])).is_ok_and(|c| c.strides == vec![2, 2]));
}

// ---- class 9: allocations sized by user input are checked first

#[test]
fn impossible_sizes_are_errors_not_capacity_overflows() -> Result<()> {
    message_of(
        Linear::new(1 << 31, 1 << 31, &mut rngs()),
        &["parameter shape", "(2147483648, 2147483648)"],
    );
    assert!(Conv::new(1 << 20, 1 << 20, &[1 << 20], &mut rngs()).is_err());
    assert!(LinearGeneral::new(1 << 31, &[1 << 31, 4], &mut rngs()).is_err());
    assert!(Einsum::new("ab,bc->ac", &[usize::MAX, 2], &mut rngs()).is_err());
    assert!(BatchNorm::new(usize::MAX, &mut rngs()).is_err());
    let mut m = MultiHeadAttention::config(2, 4)
        .decode(true)
        .build(&mut rngs())?;
    message_of(
        m.init_cache(&[1 << 40, 1 << 40, 4]),
        &["init_cache input_shape", "bytes"],
    );
    Ok(())
}

// ---- issue 12: every layer is Debug, so derived user modules can be too

#[derive(nnx_core::Module, Debug)]
struct Model {
    linear: Linear,
    norm: BatchNorm,
    drop: Dropout,
    attn: MultiHeadAttention,
    stack: Sequential<Linear>,
}

#[test]
fn derived_modules_holding_layers_print_their_fields() -> Result<()> {
    let mut r = rngs();
    let model = Model {
        linear: Linear::new(2, 3, &mut r)?,
        norm: BatchNorm::new(3, &mut r)?,
        drop: Dropout::new(0.1, &mut r)?,
        attn: MultiHeadAttention::new(1, 3, &mut r)?,
        stack: Sequential::new(vec![Linear::new(3, 3, &mut r)?]),
    };
    let text = format!("{model:?}");
    for part in [
        "Model {",
        "linear: Linear {",
        "kernel: Param(",
        "in_features: 2",
        "norm: BatchNorm {",
        "momentum: 0.99",
        "drop: Dropout {",
        "rate: 0.1",
        "attn: MultiHeadAttention {",
        "stack: Sequential { layers: [Linear {",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    Ok(())
}
