//! The per-tensor entries of a checkpoint header (`__metadata__.nnx`: Variable
//! type, path, metadata values): the input is that JSON text, placed in an
//! otherwise valid safetensors file with tensors `w` (0-d f32) and `a.0` (u8,
//! shape (2,)). Any text gives a State or an error; what loads saves and loads
//! back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nnx_core::checkpoint;

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = std::str::from_utf8(data) else {
        return;
    };
    let header = serde_json::json!({
        "__metadata__": { "nnx": entries },
        "w": { "dtype": "F32", "shape": [], "data_offsets": [0, 4] },
        "a.0": { "dtype": "U8", "shape": [2], "data_offsets": [4, 6] },
    })
    .to_string();
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&1.5f32.to_le_bytes());
    file.extend_from_slice(&[7, 8]);
    if let Ok(state) = checkpoint::load_state_from_bytes(&file) {
        if let Ok(bytes) = checkpoint::save_state_to_bytes(&state) {
            let again = checkpoint::load_state_from_bytes(&bytes).expect("saved bytes load");
            assert_eq!(checkpoint::save_state_to_bytes(&again).ok(), Some(bytes));
        }
    }
});
