//! The normalization and activation rules against central finite differences
//! (the method and tolerance of finite_diff.rs). Inputs stay ≥ 0.2 away from
//! every kink (0, ±1, ±3, 6), so each function is smooth within ±h.

mod common;

use common::{check_finite_differences, Gen, Op};
use ndarray::{ArrayD, IxDyn};
use nnx_tensor::{concat, GroupNormOptions};

/// Values ≥ 0.2 away from 0, ±1, ±3 and 6, spanning all their pieces.
fn across_kinks() -> ArrayD<f32> {
    let v = vec![
        -7.0, -4.0, -2.5, -1.5, -0.7, -0.2, 0.3, 0.7, 1.6, 2.5, 4.5, 7.0,
    ];
    ArrayD::from_shape_vec(IxDyn(&[3, 4]), v).expect("shape")
}

fn cases() -> Vec<(&'static str, Vec<ArrayD<f32>>, Op)> {
    let mut g = Gen(17);
    let mut v = |shape: &[usize]| g.away_from_zero(shape);
    let k = across_kinks;
    let mut cases: Vec<(&'static str, Vec<ArrayD<f32>>, Op)> = vec![
        ("relu6", vec![k()], Box::new(|x| Ok(x[0].relu6()))),
        ("elu", vec![k()], Box::new(|x| Ok(x[0].elu(0.5)))),
        ("celu", vec![k()], Box::new(|x| Ok(x[0].celu(2.0)))),
        ("selu", vec![k()], Box::new(|x| Ok(x[0].selu()))),
        (
            "leaky_relu",
            vec![k()],
            Box::new(|x| Ok(x[0].leaky_relu(0.2))),
        ),
        ("hard_tanh", vec![k()], Box::new(|x| Ok(x[0].hard_tanh()))),
        (
            "prelu",
            vec![k(), ArrayD::from_elem(IxDyn(&[]), 0.3)],
            Box::new(|x| x[0].prelu(x[1])),
        ),
        (
            "prelu per feature",
            vec![k(), v(&[4])],
            Box::new(|x| x[0].prelu(x[1])),
        ),
        (
            "hard_sigmoid",
            vec![k()],
            Box::new(|x| Ok(x[0].hard_sigmoid())),
        ),
        ("hard_silu", vec![k()], Box::new(|x| Ok(x[0].hard_silu()))),
        ("soft_sign", vec![k()], Box::new(|x| Ok(x[0].soft_sign()))),
        ("glu", vec![v(&[2, 4, 3])], Box::new(|x| x[0].glu(1))),
        (
            "standardize",
            vec![v(&[3, 5])],
            Box::new(|x| x[0].standardize(&[-1], 1e-5)),
        ),
        (
            "group_norm",
            vec![v(&[2, 3, 4]), v(&[4]), v(&[4])],
            Box::new(|x| x[0].group_norm(2, Some(x[1]), Some(x[2]), 1e-5, true)),
        ),
    ];
    // The statistics, both outputs at once.
    for (use_mean, fast) in [(true, true), (true, false), (false, true)] {
        cases.push((
            "compute_stats",
            vec![v(&[3, 2, 4])],
            Box::new(move |x| {
                let (m, s) = x[0].compute_stats(&[0, 2], use_mean, fast)?;
                concat(&[m, s], 0)
            }),
        ));
    }
    // Masked statistics (the masked-out elements get no gradient) and
    // GroupNorm over other reduction axes with a mask, scale and bias.
    let keep = ArrayD::from_shape_fn(IxDyn(&[3, 1, 4]), |ix| (ix[0] + ix[2]) % 3 != 1);
    for (use_mean, fast) in [(true, true), (true, false), (false, true)] {
        let keep = keep.clone();
        cases.push((
            "compute_stats_masked",
            vec![v(&[3, 2, 4])],
            Box::new(move |x| {
                let (m, s) = x[0].compute_stats_masked(&[0, 2], use_mean, fast, Some(&keep))?;
                concat(&[m, s], 0)
            }),
        ));
    }
    // Every statistic keeps at least two elements (one would make the
    // variance 0 and the finite differences ill-conditioned).
    let per_position = ArrayD::from_shape_fn(IxDyn(&[3, 2, 1]), |ix| ix[0] + ix[1] != 2);
    let per_row = ArrayD::from_shape_fn(IxDyn(&[3, 2, 4]), |ix| (ix[0] + ix[1] + ix[2]) % 4 != 0);
    for (axes, groups, keep, fast) in [
        (vec![0isize, 2], 2, per_position, true),
        (vec![-1], 1, per_row, false),
    ] {
        cases.push((
            "group_norm_with",
            vec![v(&[3, 2, 4]), v(&[4]), v(&[4])],
            Box::new(move |x| {
                let opts = GroupNormOptions {
                    reduction_axes: Some(&axes),
                    mask: Some(&keep),
                    epsilon: 1e-5,
                    use_fast_variance: fast,
                };
                x[0].group_norm_with(groups, Some(x[1]), Some(x[2]), &opts)
            }),
        ));
    }
    // Normalization with every input differentiated: given statistics
    // (BatchNorm's eval mode) and batch statistics over two layouts (BatchNorm
    // training, LayerNorm over the last two axes with a scale on the last).
    let mut p = Gen(19);
    let given = vec![
        p.away_from_zero(&[4, 3]),
        p.away_from_zero(&[3]),
        p.positive(&[3]),
        p.away_from_zero(&[3]),
        p.away_from_zero(&[3]),
    ];
    cases.push((
        "normalize",
        given,
        Box::new(|x| x[0].normalize(x[1], x[2], Some(x[3]), Some(x[4]), &[0], &[1], 1e-3)),
    ));
    for (red, feat) in [(vec![0isize, 1], vec![2isize]), (vec![1, 2], vec![2])] {
        let inputs = vec![
            p.away_from_zero(&[3, 2, 4]),
            p.away_from_zero(&[4]),
            p.away_from_zero(&[4]),
        ];
        cases.push((
            "normalize batch stats",
            inputs,
            Box::new(move |x| {
                let (m, s) = x[0].compute_stats(&red, true, true)?;
                x[0].normalize(&m, &s, Some(x[1]), Some(x[2]), &red, &feat, 1e-5)
            }),
        ));
    }
    cases
}

#[test]
fn every_norm_and_activation_rule_matches_finite_differences() {
    let mut cot = Gen(5);
    for (name, inputs, op) in cases() {
        check_finite_differences(name, &inputs, &op, &mut cot);
    }
}
