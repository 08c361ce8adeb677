//! Graph operations on misuse: errors in user terms, and nothing half-applied.

use nnx_core::prelude::*;

#[derive(Module)]
struct Node {
    w: Param<f32>,
    next: Option<Shared<Node>>,
}

#[test]
fn a_cycle_is_refused_in_words() {
    let a = Shared::new(Node {
        w: Param::new(1.0),
        next: None,
    });
    a.write().next = Some(a.clone());
    let err = a.clone_deep().err().unwrap().to_string();
    assert_eq!(
        err,
        "invalid argument to merge at next: expected a graph without reference cycles, \
         found a shared object that contains itself"
    );
    // Break the cycle so the test does not leak.
    a.write().next = None;
}

#[derive(Module)]
enum Act {
    Relu,
}

#[derive(Module)]
struct Holder {
    act: Act,
}

#[derive(Module)]
struct Other {
    act: Param<f32>,
}

/// Walks as a `Holder` but rebuilds as an `Other`, as a stale GraphDef would.
struct Stale;

impl nnx_core::graph::Field for Stale {
    fn walk_field(&self, key: &Key, w: &mut dyn nnx_core::graph::Walker) {
        Holder { act: Act::Relu }.walk_field(key, w)
    }
    fn walk_field_mut(
        &mut self,
        _: &Key,
        _: &mut dyn nnx_core::graph::WalkerMut,
        _: nnx_core::graph::Place,
    ) -> nnx_core::graph::Action {
        nnx_core::graph::Action::Keep
    }
    fn build_field(key: &Key, b: &mut nnx_core::graph::Builder<'_>) -> nnx_core::Result<Self> {
        Other::build_field(key, b).map(|_| Stale)
    }
}
impl Module for Stale {}

#[test]
fn a_graphdef_of_another_shape_is_described_not_dumped() {
    let (g, s) = Stale.split(..).unwrap();
    let err = g.merge(s).err().unwrap().to_string();
    assert_eq!(
        err,
        "type mismatch at act: expected a Variable in the GraphDef, found a node of type Act::Relu"
    );
}

#[derive(Module)]
struct Drop {
    #[nnx(static)]
    deterministic: bool,
}

#[derive(Module)]
struct Odd {
    #[nnx(static)]
    deterministic: u8,
}

#[derive(Module)]
struct Bn {
    #[nnx(static)]
    use_running_average: bool,
}

#[derive(Module)]
struct Net {
    drop: Drop,
    bn: Bn,
    odd: Odd,
}

#[test]
fn eval_with_a_wrongly_typed_flag_changes_nothing() {
    let mut net = Net {
        drop: Drop {
            deterministic: false,
        },
        bn: Bn {
            use_running_average: false,
        },
        odd: Odd { deterministic: 0 },
    };
    let err = net.eval().unwrap_err().to_string();
    assert!(
        err.contains("fields of another type at odd/deterministic"),
        "{err}"
    );
    assert!(!net.drop.deterministic);
    assert!(!net.bn.use_running_average);
    let err = net.set_attributes("deterministic", true).unwrap_err();
    assert!(err.to_string().contains("odd/deterministic"), "{err}");
    assert!(!net.drop.deterministic);
    // With every flag of one type, all are set.
    net.odd = Odd { deterministic: 3 };
    let err = net.set_attributes("deterministic", 7u8).unwrap_err();
    assert!(err.to_string().contains("drop/deterministic"), "{err}");
    assert_eq!(net.odd.deterministic, 3);
    let mut nets = vec![
        Drop {
            deterministic: false,
        },
        Drop {
            deterministic: false,
        },
    ];
    assert_eq!(nets.set_attributes("deterministic", true).unwrap(), 2);
    assert!(nets.iter().all(|d| d.deterministic));
}
