//! Conformance of `nnx_core::rngs` with real Flax 0.12 (data from
//! `tools/flax_reference/gen_rngs.py`): keys bit-exact, counts equal, and
//! `nnx.state(rngs)` printed byte for byte.

use nnx_core::random::PrngKey;
use nnx_core::rngs::Rngs;
use nnx_core::Module;
use serde_json::Value;

fn load() -> Value {
    let path = format!("{}/tests/data/rngs/rngs.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("reference data");
    serde_json::from_str(&text).expect("valid json")
}

fn key_of(v: &Value) -> PrngKey {
    let a = v.as_array().expect("key data");
    PrngKey::from_data([a[0].as_u64().unwrap() as u32, a[1].as_u64().unwrap() as u32])
}

fn rngs_of(seeds: &Value) -> Rngs {
    let seeds = seeds.as_object().expect("seeds");
    Rngs::from_streams(seeds.iter().map(|(n, s)| (n.clone(), s.as_i64().unwrap())))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// `""` is `rngs()`, anything else `rngs.<name>()`.
fn draw(rngs: &mut Rngs, calls: &[String]) -> Vec<PrngKey> {
    calls
        .iter()
        .map(|c| {
            if c.is_empty() {
                rngs.default_key().unwrap()
            } else {
                rngs.next_key(c).unwrap()
            }
        })
        .collect()
}

fn check_snapshot(rngs: &Rngs, snap: &Value, what: &str) {
    let streams = snap["streams"].as_object().unwrap();
    assert_eq!(rngs.len(), streams.len(), "{what}: stream count");
    for (name, s) in streams {
        let stream = rngs
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no stream {name}"));
        assert_eq!(stream.key(), key_of(&s["key"]), "{what}: key of {name}");
        assert_eq!(
            u64::from(stream.count()),
            s["count"].as_u64().unwrap(),
            "{what}: count of {name}"
        );
    }
    assert_eq!(
        rngs.state().to_string(),
        snap["state"].as_str().unwrap(),
        "{what}: printed state"
    );
}

fn check_keys(got: &[PrngKey], expected: &Value, what: &str) {
    let expected: Vec<PrngKey> = expected.as_array().unwrap().iter().map(key_of).collect();
    assert_eq!(got, expected.as_slice(), "{what}: drawn keys");
}

fn case(op: &str) -> Vec<Value> {
    load()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["op"] == op)
        .cloned()
        .collect()
}

#[test]
fn draws_match_flax() {
    let cases = case("draw");
    assert_eq!(cases.len(), 4);
    for (i, c) in cases.iter().enumerate() {
        let mut rngs = rngs_of(&c["seeds"]);
        check_snapshot(&rngs, &c["before"], &format!("draw {i} before"));
        let keys = draw(&mut rngs, &strs(&c["calls"]));
        check_keys(&keys, &c["keys"], &format!("draw {i}"));
        check_snapshot(&rngs, &c["after"], &format!("draw {i} after"));
    }
}

#[test]
fn fork_matches_flax() {
    for c in case("fork") {
        let mut rngs = rngs_of(&c["seeds"]);
        draw(&mut rngs, &strs(&c["pre_calls"]));
        let mut child = rngs.fork();
        check_snapshot(&rngs, &c["parent"], "fork parent");
        check_snapshot(&child, &c["child"], "fork child");
        let calls = vec!["params".to_string(), String::new()];
        check_keys(&draw(&mut child, &calls), &c["child_keys"], "fork child");
        check_keys(&draw(&mut rngs, &calls), &c["parent_keys"], "fork parent");
    }
}

#[test]
fn split_matches_flax() {
    for c in case("split").into_iter().chain(case("split_only")) {
        let mut rngs = rngs_of(&c["seeds"]);
        if let Some(pre) = c.get("pre_calls") {
            draw(&mut rngs, &strs(pre));
        }
        let k = c["k"].as_u64().unwrap() as usize;
        let parts = match c["only"].as_str() {
            Some(only) => rngs.split_only(only, k),
            None => rngs.split_into(k),
        };
        assert_eq!(parts.len(), k);
        check_snapshot(&rngs, &c["parent"], "split parent");
        for (name, keys) in c["parts"].as_object().unwrap() {
            for (i, expected) in keys.as_array().unwrap().iter().enumerate() {
                let s = parts[i].get(name).unwrap();
                assert_eq!(s.key(), key_of(expected), "split part {i} of {name}");
                assert_eq!(s.count(), 0);
            }
        }
    }
}

#[test]
fn reseed_matches_flax() {
    for c in case("reseed") {
        let mut rngs = rngs_of(&c["seeds"]);
        draw(&mut rngs, &strs(&c["pre_calls"]));
        for (name, seed) in c["reseed"].as_object().unwrap() {
            rngs.reseed(name, seed.as_i64().unwrap()).unwrap();
        }
        check_snapshot(&rngs, &c["after"], "reseed");
        let calls = vec!["dropout".to_string(), "params".to_string()];
        check_keys(&draw(&mut rngs, &calls), &c["keys"], "reseed");
    }
}

#[test]
fn repr_matches_flax() {
    let cases = case("repr");
    assert_eq!(cases.len(), 2);
    for c in cases {
        let mut rngs = rngs_of(&c["seeds"]);
        draw(&mut rngs, &strs(&c["pre_calls"]));
        assert_eq!(rngs.to_string(), c["repr"].as_str().unwrap());
    }
}
