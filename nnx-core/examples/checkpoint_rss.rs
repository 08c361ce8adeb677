//! Writes or loads a big checkpoint, for `tools/bench_checkpoint_rss.sh` to
//! measure peak RSS: `checkpoint_rss save FILE MIB` / `checkpoint_rss load FILE`.

use nnx_core::checkpoint;
use nnx_core::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("save") => {
            let file = args.get(2).ok_or("missing FILE")?;
            let mib: usize = args.get(3).ok_or("missing MIB")?.parse()?;
            // Four f32 arrays of MIB/4 MiB each.
            let rows = mib * 1024 * 1024 / 4 / 4 / 1024;
            let state = State::from_flat((0..4).map(|i| {
                let a = ndarray::Array2::<f32>::from_elem((rows, 1024), i as f32);
                (
                    vec![Key::from("layers"), Key::from(i), Key::from("kernel")],
                    VariableState::new(Param, a),
                )
            }))
            .unwrap();
            checkpoint::save_state(&state, file)?;
        }
        Some("load") => {
            let state = checkpoint::load_state(args.get(2).ok_or("missing FILE")?)?;
            let bytes: usize = state
                .flat_state()
                .iter()
                .filter_map(|(_, l)| l.value.size_bytes())
                .map(|(_, b)| b)
                .sum();
            println!("loaded {} MiB in {} Variables", bytes >> 20, state.len());
        }
        _ => return Err("usage: checkpoint_rss save FILE MIB | load FILE".into()),
    }
    Ok(())
}
