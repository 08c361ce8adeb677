//! Tying one Variable of two library layers (Flax: `decoder.kernel =
//! encoder.kernel`): listed once, restored by merge, one copy in a checkpoint,
//! written at both places by update, and one summed gradient (issue 12 item 7).

use ndarray::{arr1, arr2, ArrayD};
use nnx::nn::Linear;
use nnx::prelude::*;
use nnx::tensor::Tensor;

#[derive(Module)]
struct AutoEncoder {
    enc: Linear,
    dec: Linear,
}

fn tied() -> AutoEncoder {
    let rngs = &mut Rngs::new(0);
    let mut enc = Linear::new(3, 3, rngs).unwrap();
    let mut dec = Linear::new(3, 3, rngs).unwrap();
    dec.kernel = enc.kernel.tie();
    AutoEncoder { enc, dec }
}

fn paths(s: &State) -> Vec<String> {
    s.flat_state()
        .paths()
        .iter()
        .map(|p| nnx::path_string(p))
        .collect()
}

fn kernel_of(s: &State, path: &str) -> ArrayD<f32> {
    s.get::<Tensor>(path).unwrap().to_array()
}

#[test]
fn the_tied_kernel_is_listed_once_at_its_first_path() {
    let m = tied();
    assert!(m.enc.kernel.is_tied_to(&m.dec.kernel));
    // Sorted paths: `dec` comes first, so the kernel is listed there, as in Flax.
    assert_eq!(paths(&m.state()), ["dec/bias", "dec/kernel", "enc/bias"]);
    assert_eq!(m.graphdef().num_variables(), 3);
    assert_eq!(
        m.find_duplicates().unwrap(),
        vec![vec![
            vec![Key::from("dec"), Key::from("kernel")],
            vec![Key::from("enc"), Key::from("kernel")]
        ]]
    );
    // Untied layers have four Variables and another GraphDef.
    let rngs = &mut Rngs::new(0);
    let untied = AutoEncoder {
        enc: Linear::new(3, 3, rngs).unwrap(),
        dec: Linear::new(3, 3, rngs).unwrap(),
    };
    assert_eq!(untied.state().len(), 4);
    assert_ne!(untied.graphdef(), m.graphdef());
}

#[test]
fn merge_restores_the_tie() {
    let m = tied();
    let kernel = m.enc.kernel.value().clone();
    let (g, s) = m.split(..).unwrap();
    let mut back: AutoEncoder = g.merge(s).unwrap();
    assert!(back.enc.kernel.is_tied_to(&back.dec.kernel));
    assert_eq!(*back.enc.kernel, kernel);
    assert_eq!(*back.dec.kernel, kernel);
    // clone_deep ties the copy's kernels to each other, not to the original's.
    let copy = back.clone_deep().unwrap();
    assert!(copy.enc.kernel.is_tied_to(&copy.dec.kernel));
    assert!(!copy.enc.kernel.is_tied_to(&back.enc.kernel));
    // The restored tie still writes both places.
    let ones = Tensor::ones(&[3, 3]);
    let mut new = back.state();
    new.set("dec/kernel", ones.clone()).unwrap();
    back.update(new).unwrap();
    assert_eq!(*back.enc.kernel, ones);
}

#[test]
fn update_writes_both_places() {
    let mut m = tied();
    let mut s = m.state();
    let twice = kernel_of(&s, "dec/kernel") * 2.0;
    s.set("dec/kernel", Tensor::new(twice.clone())).unwrap();
    m.update(s).unwrap();
    assert_eq!(m.enc.kernel.to_array(), twice);
    assert_eq!(m.dec.kernel.to_array(), twice);
    assert!(m.enc.kernel.is_tied_to(&m.dec.kernel));
    // Forward passes of both layers use the new kernel.
    let x = Tensor::from(arr2(&[[1.0f32, 0.0, 0.0]]));
    let bias = |l: &Linear| l.bias.as_ref().unwrap().value().to_array();
    let enc_out = m.enc.forward(&x).unwrap().into_array();
    let dec_out = m.dec.forward(&x).unwrap().into_array();
    let row = twice.index_axis(ndarray::Axis(0), 0).to_owned();
    assert_eq!(
        enc_out - bias(&m.enc),
        row.clone().insert_axis(ndarray::Axis(0))
    );
    assert_eq!(dec_out - bias(&m.dec), row.insert_axis(ndarray::Axis(0)));
}

#[test]
fn a_checkpoint_keeps_one_copy_and_restores_both_places() {
    let m = tied();
    let bytes = nnx::checkpoint::save_state_to_bytes(&m.state()).unwrap();
    let loaded = nnx::checkpoint::load_state_from_bytes(&bytes).unwrap();
    assert_eq!(paths(&loaded), ["dec/bias", "dec/kernel", "enc/bias"]);
    let mut fresh = {
        let rngs = &mut Rngs::new(7);
        let mut enc = Linear::new(3, 3, rngs).unwrap();
        let mut dec = Linear::new(3, 3, rngs).unwrap();
        dec.kernel = enc.kernel.tie();
        AutoEncoder { enc, dec }
    };
    fresh.update(loaded).unwrap();
    assert_eq!(*fresh.enc.kernel, *m.enc.kernel);
    assert_eq!(*fresh.dec.kernel, *m.enc.kernel);
}

#[test]
fn a_tied_variable_cannot_be_popped_from_one_place() {
    #[derive(Module)]
    struct Opt {
        a: Option<Param<f32>>,
        b: Option<Param<f32>>,
    }
    let mut a = Param::new(1.0f32);
    let b = a.tie();
    let mut m = Opt {
        a: Some(a),
        b: Some(b),
    };
    assert!(m.pop(Param).is_err());
    assert!(m.a.is_some() && m.b.is_some());
}

/// Two uses of one tied Tensor Param: `a` scales `x`, `b` scales `y`.
#[derive(Module)]
struct TwoUses {
    a: Param<Tensor>,
    b: Param<Tensor>,
}

#[test]
fn gradients_through_both_uses_are_summed() {
    let mut a = Param::new(Tensor::from(arr1(&[1.0f32, 2.0])));
    let b = a.tie();
    let mut m = TwoUses { a, b };
    let x = Tensor::from(arr1(&[3.0f32, 4.0]));
    let y = Tensor::from(arr1(&[10.0f32, 20.0]));
    let (loss, grads) = nnx::value_and_grad(&mut m, Param, |m| {
        let first = (&*m.a * &x)?.sum();
        let second = (&*m.b * &y)?.sum();
        &first + &second
    })
    .unwrap();
    // loss = a.x + a.y = (3 + 8) + (10 + 40)
    assert_eq!(loss, 61.0);
    assert_eq!(paths(&grads), ["a"]);
    let g = grads.get::<Tensor>("a").unwrap().to_array();
    // d/da (a.x + a.y) = x + y
    assert_eq!(g, arr1(&[13.0f32, 24.0]).into_dyn());
    assert!(m.a.is_tied_to(&m.b));
}
