use nnx::{Module, Param};

#[derive(Module)]
struct Wrapper<L> {
    inner: L,
}

fn needs_module<M: Module>(_: &M) {}

fn main() {
    let ok = Wrapper { inner: Param::new(1.0f32) };
    needs_module(&ok);
    let bad = Wrapper { inner: std::sync::Mutex::new(1u8) };
    needs_module(&bad);
}
