//! The five seed examples print, byte for byte, what the seed page's Python examples
//! print with real Flax (`tests/data/seeds/` is a copy of `shared/seeds/expected/`).

#[path = "../examples/seed_batchstat.rs"]
mod seed_batchstat;
#[path = "../examples/seed_cache.rs"]
mod seed_cache;
#[path = "../examples/seed_intermediate.rs"]
mod seed_intermediate;
#[path = "../examples/seed_param.rs"]
mod seed_param;
#[path = "../examples/seed_variable.rs"]
mod seed_variable;

#[test]
fn seed_batchstat_prints_flax_text() {
    assert_eq!(
        seed_batchstat::run().unwrap(),
        include_str!("data/seeds/seed_batchstat.txt")
    );
}

#[test]
fn seed_cache_prints_flax_text() {
    assert_eq!(
        seed_cache::run().unwrap(),
        include_str!("data/seeds/seed_cache.txt")
    );
}

#[test]
fn seed_intermediate_prints_flax_text() {
    assert_eq!(
        seed_intermediate::run().unwrap(),
        include_str!("data/seeds/seed_intermediate.txt")
    );
}

#[test]
fn seed_param_prints_flax_text() {
    assert_eq!(
        seed_param::run().unwrap(),
        include_str!("data/seeds/seed_param.txt")
    );
}

#[test]
fn seed_variable_prints_flax_text() {
    assert_eq!(
        seed_variable::run().unwrap(),
        include_str!("data/seeds/seed_variable.txt")
    );
}
