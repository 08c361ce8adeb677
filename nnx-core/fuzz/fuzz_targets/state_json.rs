//! `State` from JSON (feature `serde`): any text gives a State or an error,
//! never a panic; what parses serializes, and the JSON of that parses back to
//! the same JSON (compared as text: NaN values are not equal to themselves).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nnx_core::State;

fuzz_target!(|data: &[u8]| {
    let Ok(state) = serde_json::from_slice::<State>(data) else {
        return;
    };
    let json = serde_json::to_string(&state).expect("a State read from JSON writes JSON");
    let back: State = serde_json::from_str(&json).expect("written JSON reads back");
    assert_eq!(serde_json::to_string(&back).ok(), Some(json));
});
