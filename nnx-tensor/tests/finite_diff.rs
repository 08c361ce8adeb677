//! Every gradient rule against central finite differences.
//!
//! For an op `f` with inputs `x_i` and a fixed random cotangent `c`, the loss is
//! `L = sum(f(x) * c)` and `value_and_grad` must give `dL/dx_i` for every element.
//! The reference is Richardson-extrapolated central differences,
//! `(4 D(h/2) - D(h)) / 3` with `D(h) = (L(x + h e) - L(x - h e)) / 2h`, whose
//! truncation error is O(h⁴) ≈ 1e-8 at h = 1e-2. The ops run in f32, so each
//! loss carries a rounding error of about `n · 6e-8 · |terms|` (n ≤ 60 terms of
//! size ≲ 10), i.e. ≲ 4e-5, divided by 2h = 2e-2: ≲ 2e-3 absolute on the
//! difference quotient. Hence the tolerance `5e-3 · max(1, |grad|)`, far below
//! the size of any wrong rule (a missing factor, sign or transpose is O(1)).
//! Inputs stay ≥ 0.1 away from kinks (relu, abs) and maxima are distinct, so
//! every function is smooth within ±h of the point.

use ndarray::{arr1, arr2, ArrayD, IxDyn};
use nnx_tensor::{
    concat, dot_product_attention, dot_product_attention_weights, einsum, AttentionDropout,
    AttentionOptions, Tensor,
};

mod common;
use common::*;

/// Op name, input arrays and the op.
fn cases() -> Vec<(&'static str, Vec<ArrayD<f32>>, Op)> {
    let mut g = Gen(7);
    let mut v = |shape: &[usize]| g.away_from_zero(shape);
    let mut cases: Vec<(&'static str, Vec<ArrayD<f32>>, Op)> = vec![
        ("add", vec![v(&[2, 3]), v(&[3])], Box::new(|x| x[0] + x[1])),
        (
            "sub",
            vec![v(&[2, 1, 3]), v(&[4, 1])],
            Box::new(|x| x[0] - x[1]),
        ),
        (
            "mul",
            vec![v(&[2, 3]), v(&[2, 1])],
            Box::new(|x| x[0] * x[1]),
        ),
        ("add_scalar", vec![v(&[3])], Box::new(|x| Ok(x[0] + 2.0))),
        ("rsub_scalar", vec![v(&[3])], Box::new(|x| Ok(2.0 - x[0]))),
        ("mul_scalar", vec![v(&[3])], Box::new(|x| Ok(x[0] * -1.5))),
        ("div_scalar", vec![v(&[3])], Box::new(|x| Ok(x[0] / 3.0))),
        ("neg", vec![v(&[3])], Box::new(|x| Ok(-x[0]))),
        ("exp", vec![v(&[2, 3])], Box::new(|x| Ok(x[0].exp()))),
        ("tanh", vec![v(&[2, 3])], Box::new(|x| Ok(x[0].tanh()))),
        (
            "sigmoid",
            vec![v(&[2, 3])],
            Box::new(|x| Ok(x[0].sigmoid())),
        ),
        ("relu", vec![v(&[2, 3])], Box::new(|x| Ok(x[0].relu()))),
        ("silu", vec![v(&[2, 3])], Box::new(|x| Ok(x[0].silu()))),
        (
            "softplus",
            vec![v(&[2, 3])],
            Box::new(|x| Ok(x[0].softplus())),
        ),
        (
            "log_sigmoid",
            vec![v(&[2, 3])],
            Box::new(|x| Ok(x[0].log_sigmoid())),
        ),
        (
            "gelu_tanh",
            vec![v(&[2, 3])],
            Box::new(|x| Ok(x[0].gelu(true))),
        ),
        (
            "gelu_exact",
            vec![v(&[2, 3])],
            Box::new(|x| Ok(x[0].gelu(false))),
        ),
        ("square", vec![v(&[2, 3])], Box::new(|x| Ok(x[0].square()))),
        ("abs", vec![v(&[2, 3])], Box::new(|x| Ok(x[0].abs()))),
        (
            "matmul",
            vec![v(&[2, 3, 4]), v(&[4, 2])],
            Box::new(|x| x[0].matmul(x[1])),
        ),
        (
            "matmul_batched",
            vec![v(&[2, 1, 2, 3]), v(&[3, 3, 2])],
            Box::new(|x| x[0].matmul(x[1])),
        ),
        (
            "matmul_vectors",
            vec![v(&[3]), v(&[3])],
            Box::new(|x| x[0].matmul(x[1])),
        ),
        (
            "reshape",
            vec![v(&[2, 3])],
            Box::new(|x| x[0].reshape(&[3, 2])),
        ),
        (
            "permute",
            vec![v(&[2, 3, 2])],
            Box::new(|x| x[0].permute(&[1, 2, 0])),
        ),
        ("slice", vec![v(&[3, 4])], Box::new(|x| x[0].slice(1, 1..3))),
        (
            "concat",
            vec![v(&[2, 1]), v(&[2, 3])],
            Box::new(|x| concat(&[x[0], x[1]], 1)),
        ),
        (
            "sum",
            vec![v(&[2, 3, 2])],
            Box::new(|x| x[0].sum_axes(&[0, 2], true)),
        ),
        (
            "mean",
            vec![v(&[2, 3, 2])],
            Box::new(|x| x[0].mean_axes(&[1], false)),
        ),
        ("softmax", vec![v(&[2, 4])], Box::new(|x| x[0].softmax(-1))),
        (
            "log_softmax",
            vec![v(&[2, 4])],
            Box::new(|x| x[0].log_softmax(0)),
        ),
        (
            "logsumexp",
            vec![v(&[2, 4])],
            Box::new(|x| x[0].logsumexp(&[1], false)),
        ),
        (
            "where",
            vec![v(&[2, 3]), v(&[3])],
            Box::new(|x| {
                Tensor::where_cond(
                    &arr2(&[[true, false, true], [false, false, true]]),
                    x[0],
                    x[1],
                )
            }),
        ),
        (
            "take",
            vec![v(&[4, 2])],
            Box::new(|x| x[0].take(&arr1(&[3i64, 0, 3, -1]), 0)),
        ),
        (
            "take_along_axis",
            vec![v(&[3, 4])],
            Box::new(|x| x[0].take_along_axis(&arr2(&[[1i64, 1], [0, 3], [2, 2]]), 1)),
        ),
        (
            "dropout",
            vec![v(&[2, 3])],
            Box::new(|x| x[0].dropout(&arr2(&[[true], [false]]), 0.25)),
        ),
    ];
    let mut p = Gen(11);
    let (a, b) = (p.away_from_zero(&[2, 3]), p.positive(&[3]));
    cases.push(("div", vec![a, b], Box::new(|x| x[0] / x[1])));
    cases.push((
        "rdiv_scalar",
        vec![p.positive(&[3])],
        Box::new(|x| Ok(2.0 / x[0])),
    ));
    cases.push((
        "log",
        vec![p.positive(&[2, 3])],
        Box::new(|x| Ok(x[0].log())),
    ));
    cases.push((
        "sqrt",
        vec![p.positive(&[2, 3])],
        Box::new(|x| Ok(x[0].sqrt())),
    ));
    let mut e = Gen(13);
    for (eq, a, b) in [
        ("ab,bc->ca", &[2, 3][..], &[3, 2][..]),
        ("abc,cd->abd", &[2, 1, 3], &[3, 2]),
        ("ab,bc->c", &[2, 3], &[3, 2]),
        ("ab,bc->a", &[2, 3], &[3, 2]),
        ("bij,bjk->bik", &[2, 2, 3], &[2, 3, 2]),
        ("...a,...ab->...b", &[2, 2, 3], &[2, 3, 2]),
    ] {
        let inputs = vec![e.away_from_zero(a), e.away_from_zero(b)];
        cases.push(("einsum", inputs, Box::new(move |x| einsum(eq, x[0], x[1]))));
    }
    // Attention: grouped-query heads (4 query heads, 2 key/value heads), a
    // padding mask with a fully masked row, a causal mask, a broadcast bias and
    // dropout with a given keep mask.
    let mask = ArrayD::from_shape_fn(IxDyn(&[2, 1, 3, 3]), |i| {
        i[0] == 1 || (i[2] != 0 && i[3] != 2)
    });
    let keep = ArrayD::from_shape_fn(IxDyn(&[1, 1, 3, 3]), |i| (i[2] + i[3]) % 3 != 1);
    let qkv = |e: &mut Gen| {
        vec![
            e.away_from_zero(&[2, 3, 4, 2]),
            e.away_from_zero(&[2, 3, 2, 2]),
            e.away_from_zero(&[2, 3, 2, 3]),
            e.away_from_zero(&[4, 3, 3]),
        ]
    };
    for causal in [false, true] {
        let (mask, keep) = (mask.clone(), keep.clone());
        cases.push((
            "attention",
            qkv(&mut e),
            Box::new(move |x| {
                let opts = AttentionOptions {
                    bias: Some(x[3]),
                    mask: Some(&mask),
                    is_causal: causal,
                    dropout: Some(AttentionDropout {
                        keep: &keep,
                        rate: 0.25,
                    }),
                };
                dot_product_attention(x[0], x[1], x[2], &opts)
            }),
        ));
    }
    let inputs = qkv(&mut e).into_iter().take(2).collect();
    cases.push((
        "attention_weights",
        inputs,
        Box::new(|x| dot_product_attention_weights(x[0], x[1], &AttentionOptions::default())),
    ));
    // Distinct values spaced 0.25 apart: the argmax is stable within ±h.
    let spaced = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0.5, -0.25, 1.0, 0.0, 0.75, -0.5])
        .expect("shape");
    cases.push(("max", vec![spaced], Box::new(|x| x[0].max_axes(&[1], true))));
    cases
}

#[test]
fn every_rule_matches_finite_differences() {
    let mut cot = Gen(3);
    for (name, inputs, op) in cases() {
        check_finite_differences(name, &inputs, &op, &mut cot);
    }
}
