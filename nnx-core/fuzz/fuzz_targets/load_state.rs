//! Any bytes must give a State or an error: never a panic, an abort or an
//! allocation beyond the input's size. What loads saves again, and saving is
//! idempotent from there; loading into a module either fits or leaves it as it
//! was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ndarray::{ArrayD, IxDyn};
use nnx_core::checkpoint::{self, LoadOptions};
use nnx_core::prelude::*;
use nnx_core::RngCount;

/// The module `corpus/load_state/small.safetensors` fits, so that mutated
/// inputs reach the checks of every leaf.
#[derive(Module)]
struct Small {
    b: BatchStat<ArrayD<bool>>,
    n: RngCount<u32>,
    w: Param<ArrayD<f32>>,
}

impl Small {
    fn zeros() -> Self {
        Small {
            b: BatchStat::new(ArrayD::from_elem(IxDyn(&[3]), false)),
            n: RngCount::new(0),
            w: Param::new(ArrayD::zeros(IxDyn(&[2, 2]))),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = checkpoint::load_state_from_bytes(data) {
        // A loaded State may still be unsavable (two paths with one dotted
        // name); what saves must load back to the same bytes. Bytes, not
        // States, are compared: NaN values are not equal to themselves.
        if let Ok(bytes) = checkpoint::save_state_to_bytes(&state) {
            let again = checkpoint::load_state_from_bytes(&bytes).expect("saved bytes load");
            assert_eq!(checkpoint::save_state_to_bytes(&again).ok(), Some(bytes));
        }
    }
    let mut model = Small::zeros();
    if checkpoint::load_into_from_bytes_with(&mut model, data, LoadOptions::default()).is_err() {
        assert_eq!(
            model.state(),
            Small::zeros().state(),
            "a failed load changed the module"
        );
        // What fits loads; the rest stays as it was.
        let _ =
            checkpoint::load_into_from_bytes_with(&mut model, data, LoadOptions { strict: false });
    }
});
