//! Any bytes must give a State or an error: never a panic, an abort or an
//! allocation beyond the input's size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = nnx_core::checkpoint::load_state_from_bytes(data) {
        // What loads must save again.
        let _ = nnx_core::checkpoint::save_state_to_bytes(&state);
    }
});
