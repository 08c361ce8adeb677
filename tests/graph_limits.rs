//! Graph operations never hang on a lock the caller holds and never overflow the
//! stack on a deep graph: both are errors naming the path, and a failing
//! operation changes nothing (issue 11, items 4 and 10).

use nnx::prelude::*;
use nnx::{Error, Intermediate, MAX_DEPTH};

#[derive(Module, Debug)]
struct Encoder {
    w: Param<f32>,
    #[nnx(static)]
    deterministic: bool,
}

#[derive(Module)]
struct Model {
    enc: Shared<Encoder>,
    head: Param<f32>,
    #[nnx(sow)]
    sown: Sown,
}

fn model() -> Model {
    Model {
        enc: Shared::new(Encoder {
            w: Param::new(1.0),
            deterministic: true,
        }),
        head: Param::new(2.0),
        sown: Sown::default(),
    }
}

fn is_locked_at(e: &Error, at: &str) -> bool {
    matches!(e, Error::Locked { path } if path.to_string() == at)
}

#[test]
fn a_write_guard_held_by_the_caller_is_an_error_not_a_hang() {
    let mut m = model();
    let enc = m.enc.clone();
    let guard = enc.write();
    let before = m.head.clone();
    assert!(is_locked_at(&m.try_state().unwrap_err(), "enc"));
    assert!(is_locked_at(&m.try_graphdef().unwrap_err(), "enc"));
    assert!(is_locked_at(&m.states_of(Param).unwrap_err(), "enc"));
    assert!(is_locked_at(&m.iter_graph().unwrap_err(), "enc"));
    assert!(is_locked_at(&m.clone_deep().err().unwrap(), "enc"));
    // Mutating operations fail before changing anything.
    let new = State::from_flat(vec![(
        vec![Key::from("head")],
        VariableState::new(Param, 5.0f32),
    )])
    .unwrap();
    assert!(is_locked_at(&m.update(new).unwrap_err(), "enc"));
    assert_eq!(*m.head, *before);
    assert!(is_locked_at(&m.train().unwrap_err(), "enc"));
    m.sow(Intermediate, "h", 1.0f32).unwrap();
    assert!(is_locked_at(&m.pop(Intermediate).unwrap_err(), "enc"));
    assert!(!m.sown.is_empty(), "a failing pop removes nothing");
    assert!(nnx::display(&m).contains("enc=<locked>"));
    assert_eq!(format!("{:?}", m.enc), "Shared(<locked>)");
    drop(guard);
    assert_eq!(m.try_state().unwrap().len(), 3);
}

#[test]
fn a_read_guard_blocks_mutation_but_not_reading() {
    let mut m = model();
    let enc = m.enc.clone();
    let guard = enc.read();
    assert_eq!(m.try_state().unwrap().len(), 2);
    // train() writes `deterministic` inside the Shared: it needs the write lock.
    assert!(is_locked_at(&m.train().unwrap_err(), "enc"));
    assert!(guard.deterministic, "nothing was set");
    let state = m.try_state().unwrap();
    assert!(is_locked_at(&m.update(state).unwrap_err(), "enc"));
    drop(guard);
    m.train().unwrap();
    assert!(!m.enc.read().deterministic);
}

#[test]
fn split_of_a_model_whose_shared_part_is_locked_elsewhere_is_an_error() {
    let m = model();
    let enc = m.enc.clone();
    let _guard = enc.write();
    assert!(is_locked_at(&m.split(..).err().unwrap(), "enc"));
}

#[test]
#[should_panic(expected = "Shared locked at enc")]
fn state_panics_with_the_path_instead_of_blocking() {
    let m = model();
    let _guard = m.enc.write();
    let _ = m.state();
}

/// A linked list of modules, one node deeper per link.
#[derive(Module)]
struct Node {
    w: Param<f32>,
    next: Option<Box<Node>>,
}

impl Node {
    /// A chain of `links` nodes below the root.
    fn chain(links: usize) -> Node {
        let mut node = Node {
            w: Param::new(0.0),
            next: None,
        };
        for i in 0..links {
            node = Node {
                w: Param::new(i as f32),
                next: Some(Box::new(node)),
            };
        }
        node
    }
}

/// Unlinks iteratively: the derived drop of a long chain would itself recurse.
impl Drop for Node {
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(mut node) = next {
            next = node.next.take();
        }
    }
}

/// Runs `f` on a thread with a 2 MiB stack (the default for test threads).
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

fn is_too_deep(e: &Error) -> bool {
    matches!(e, Error::TooDeep { limit, path } if *limit == MAX_DEPTH
        && str::matches(&path.to_string(), "next").count() == MAX_DEPTH)
}

#[test]
fn a_chain_of_50000_nodes_is_refused_with_the_path() {
    on_small_stack(|| {
        let mut m = Node::chain(50_000);
        assert!(is_too_deep(&m.try_state().unwrap_err()));
        assert!(is_too_deep(&m.try_graphdef().unwrap_err()));
        assert!(is_too_deep(&m.states_of(Param).unwrap_err()));
        assert!(is_too_deep(&m.iter_graph().unwrap_err()));
        assert!(is_too_deep(&m.clone_deep().err().unwrap()));
        assert!(is_too_deep(&m.update(State::new()).unwrap_err()));
        assert!(is_too_deep(&m.pop(Intermediate).unwrap_err()));
        assert!(is_too_deep(&m.train().unwrap_err()));
        assert!(nnx::display(&m).contains("..."));
        assert!(is_too_deep(&m.split(..).err().unwrap()));
    });
}

#[test]
fn the_deepest_allowed_chain_round_trips_on_a_small_stack() {
    on_small_stack(|| {
        // The root is one level; MAX_DEPTH - 1 links below it.
        let m = Node::chain(MAX_DEPTH - 1);
        let state = m.try_state().unwrap();
        assert_eq!(state.len(), MAX_DEPTH);
        let mut m2 = m.clone_deep().unwrap();
        m2.update(state.clone()).unwrap();
        let printed = nnx::display(&m2);
        assert!(!printed.contains("..."));
        let (g, s) = m.split(..).unwrap();
        let back: Node = g.merge(s).unwrap();
        assert_eq!(back.try_state().unwrap(), state);
        // One more link is refused.
        assert!(is_too_deep(
            &Node::chain(MAX_DEPTH).try_state().unwrap_err()
        ));
    });
}
