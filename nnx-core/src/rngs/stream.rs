//! [`RngStream`]: one named random stream, a key and a counter.

use crate::builtin::{RngCount, RngKey};
use crate::error::Result;
use crate::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
use crate::key::Key;
use crate::random::{self, PrngKey};
use crate::variable::VariableType;
use crate::Module;

/// One random stream (Flax's `nnx.RngStream`): a base [`PrngKey`](struct@crate::random::PrngKey) in an [`RngKey`](struct@crate::RngKey)
/// Variable and a `u32` counter in an [`RngCount`](struct@crate::RngCount) Variable, both tagged with the
/// stream's name so that a string filter (`"dropout"`) selects them.
///
/// Every [`next_key`](RngStream::next_key) folds the current count into the base
/// key and then increments the count, so a stream yields
/// `fold_in(key, 0), fold_in(key, 1), ...`, exactly as Flax 0.12 does.
///
/// ```
/// use nnx_core::random::{fold_in, key};
/// use nnx_core::rngs::RngStream;
/// let mut s = RngStream::new("params", 0);
/// assert_eq!(s.next_key(), fold_in(key(0), 0));
/// assert_eq!(s.next_key(), fold_in(key(0), 1));
/// assert_eq!(s.count(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct RngStream {
    key: RngKey<PrngKey>,
    count: RngCount<u32>,
    tag: String,
}

impl RngStream {
    /// A stream named `tag` seeded with `seed` (via [`random::key`], JAX's 32-bit
    /// mode), count 0.
    ///
    /// ```
    /// let s = nnx_core::rngs::RngStream::new("dropout", 1);
    /// assert_eq!((s.tag(), s.key(), s.count()), ("dropout", nnx_core::random::key(1), 0));
    /// ```
    pub fn new(tag: impl Into<String>, seed: i64) -> Self {
        Self::from_key(tag, random::key(seed))
    }

    /// A stream named `tag` with base key `key`, count 0.
    ///
    /// ```
    /// use nnx_core::random::PrngKey;
    /// let s = nnx_core::rngs::RngStream::from_key("params", PrngKey::from_data([1, 2]));
    /// assert_eq!(s.key().data(), [1, 2]);
    /// ```
    pub fn from_key(tag: impl Into<String>, key: PrngKey) -> Self {
        let tag = tag.into();
        let mut key = RngKey::new(key);
        key.set_metadata("tag", tag.as_str());
        let mut count = RngCount::new(0u32);
        count.set_metadata("tag", tag.as_str());
        RngStream { key, count, tag }
    }

    /// The stream's name (also the `tag` metadata of its Variables).
    ///
    /// ```
    /// assert_eq!(nnx_core::rngs::RngStream::new("noise", 0).tag(), "noise");
    /// ```
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The base key (not advanced by [`next_key`](RngStream::next_key)).
    ///
    /// ```
    /// let mut s = nnx_core::rngs::RngStream::new("default", 3);
    /// s.next_key();
    /// assert_eq!(s.key(), nnx_core::random::key(3));
    /// ```
    pub fn key(&self) -> PrngKey {
        *self.key.value()
    }

    /// How many keys the stream has given since it was created or reseeded.
    ///
    /// ```
    /// let mut s = nnx_core::rngs::RngStream::new("default", 0);
    /// s.next_key();
    /// assert_eq!(s.count(), 1);
    /// ```
    pub fn count(&self) -> u32 {
        *self.count.value()
    }

    /// The key Variable (`RngKey`, tagged with the stream name).
    ///
    /// ```
    /// use nnx_core::VariableType;
    /// let s = nnx_core::rngs::RngStream::new("params", 0);
    /// assert_eq!(s.key_variable().kind(), nnx_core::RngKey);
    /// ```
    pub fn key_variable(&self) -> &RngKey<PrngKey> {
        &self.key
    }

    /// The counter Variable (`RngCount`, tagged with the stream name).
    ///
    /// ```
    /// use nnx_core::VariableType;
    /// let s = nnx_core::rngs::RngStream::new("params", 0);
    /// assert_eq!(s.count_variable().get_metadata_entry("tag").unwrap().to_string(), "'params'");
    /// ```
    pub fn count_variable(&self) -> &RngCount<u32> {
        &self.count
    }

    /// A fresh key: `fold_in(key, count)`, then `count += 1` (Flax's
    /// `stream()`). The count wraps at `u32::MAX` as JAX's `uint32` does.
    ///
    /// ```
    /// use nnx_core::random::{fold_in, key};
    /// let mut s = nnx_core::rngs::RngStream::new("default", 0);
    /// assert_eq!(s.next_key(), fold_in(key(0), 0));
    /// ```
    pub fn next_key(&mut self) -> PrngKey {
        let count = self.count();
        let k = random::fold_in(self.key(), count);
        // Raw write: RngCount declares no hooks, and Flax's `count[...] += 1` is a
        // plain in-place update too.
        *self.count.value_mut() = count.wrapping_add(1);
        k
    }

    /// A new, independent stream with the same tag whose base key is this
    /// stream's next key (Flax's `RngStream.fork()`); this stream advances by one.
    ///
    /// ```
    /// let mut s = nnx_core::rngs::RngStream::new("dropout", 0);
    /// let child = s.fork();
    /// assert_eq!(child.key(), nnx_core::random::fold_in(nnx_core::random::key(0), 0));
    /// assert_eq!((child.count(), s.count()), (0, 1));
    /// ```
    pub fn fork(&mut self) -> RngStream {
        RngStream::from_key(self.tag.clone(), self.next_key())
    }

    /// `k` new streams with the same tag whose base keys are
    /// `random::split(self.next_key(), k)` (Flax's `RngStream.split(k)`, whose one
    /// stream with a key array of shape `(k,)` is these `k` streams stacked); this
    /// stream advances by one, so consecutive splits never repeat keys. (Not
    /// named `split`, which is [`Module::split`].)
    ///
    /// ```
    /// use nnx_core::random::{fold_in, key, split};
    /// let mut s = nnx_core::rngs::RngStream::new("params", 0);
    /// let parts = s.split_into(3);
    /// assert_eq!(parts[2].key(), split(fold_in(key(0), 0), 3)[2]);
    /// assert_eq!(s.count(), 1);
    /// ```
    pub fn split_into(&mut self, k: usize) -> Vec<RngStream> {
        random::split(self.next_key(), k)
            .into_iter()
            .map(|key| RngStream::from_key(self.tag.clone(), key))
            .collect()
    }

    /// `k` streams sharing one base key, this stream's next key (Flax's
    /// `RngStream.broadcast(k)`, unstacked).
    ///
    /// ```
    /// let mut s = nnx_core::rngs::RngStream::new("params", 0);
    /// let copies = s.broadcast(2);
    /// assert_eq!(copies[0].key(), copies[1].key());
    /// ```
    pub fn broadcast(&mut self, k: usize) -> Vec<RngStream> {
        let key = self.next_key();
        (0..k)
            .map(|_| RngStream::from_key(self.tag.clone(), key))
            .collect()
    }

    /// Restarts the stream from `seed` as `nnx.reseed(node, tag=seed)` does: the
    /// base key becomes `fold_in(key(seed), 0)` (Flax draws it from a fresh
    /// `Rngs(tag=seed)`) and the count 0.
    ///
    /// ```
    /// use nnx_core::random::{fold_in, key};
    /// let mut s = nnx_core::rngs::RngStream::new("dropout", 0);
    /// s.next_key();
    /// s.reseed(42);
    /// assert_eq!((s.key(), s.count()), (fold_in(key(42), 0), 0));
    /// ```
    pub fn reseed(&mut self, seed: i64) {
        self.reset(random::fold_in(random::key(seed), 0));
    }

    /// Sets the counter (used when a stream is retagged).
    pub(crate) fn set_count(&mut self, count: u32) {
        self.count.set_raw_value(count);
    }

    /// Sets the base key to `key` and the count to 0 (`restore_rngs`-style).
    ///
    /// ```
    /// let mut s = nnx_core::rngs::RngStream::new("dropout", 0);
    /// s.next_key();
    /// s.reset(nnx_core::random::key(5));
    /// assert_eq!((s.key(), s.count()), (nnx_core::random::key(5), 0));
    /// ```
    pub fn reset(&mut self, key: PrngKey) {
        self.key.set_raw_value(key);
        self.count.set_raw_value(0);
    }
}

impl RngStream {
    /// Writes the stream as Flax's `repr` does, its lines after the first
    /// indented by `indent` spaces.
    pub(crate) fn fmt_indented(
        &self,
        f: &mut dyn std::fmt::Write,
        indent: usize,
    ) -> std::fmt::Result {
        let pad = " ".repeat(indent + 2);
        let (n, bytes) = stream_size(self);
        write!(f, "RngStream( {}", state_comment(n, bytes))?;
        let tag = crate::MetaValue::from(self.tag.as_str());
        write!(
            f,
            "
{pad}tag={tag},"
        )?;
        write!(f, "\n{pad}key=")?;
        let key = self.key.as_variable();
        let meta = crate::variable::VariableInfo::metadata(key);
        crate::display::fmt_variable(f, key.kind(), key.value(), meta, indent + 2)?;
        write!(f, ",\n{pad}count=")?;
        let count = self.count.as_variable();
        let meta = crate::variable::VariableInfo::metadata(count);
        crate::display::fmt_variable(f, count.kind(), count.value(), meta, indent + 2)?;
        write!(f, "\n{})", " ".repeat(indent))
    }
}

/// Elements and bytes of a stream's state: one key (8 B) and one count (4 B);
/// keys here are always scalars.
pub(crate) fn stream_size(_stream: &RngStream) -> (usize, usize) {
    (2, 12)
}

/// Flax's header comment for a node holding random state: `# RngState: 2 (12 B)`.
pub(crate) fn state_comment(n: usize, bytes: usize) -> String {
    let size = crate::repr::fmt_size_comment(n, bytes);
    format!("# RngState: {}", size.trim_start_matches("# "))
}

/// Prints as Flax prints an `RngStream`.
///
/// ```
/// let s = nnx_core::rngs::RngStream::new("params", 0);
/// assert!(s.to_string().starts_with("RngStream( # RngState: 2 (12 B)\n  tag='params',\n  key=RngKey("));
/// ```
impl std::fmt::Display for RngStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.fmt_indented(f, 0)
    }
}

/// A node `RngStream` with children `count`, `key` (Variables) and `tag` (static),
/// in that sorted order.
impl Field for RngStream {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        if w.enter(key, NodeHeader::node("RngStream")) {
            self.count.walk_field(&Key::from("count"), w);
            self.key.walk_field(&Key::from("key"), w);
            self.tag.walk_field(&Key::from("tag"), w);
            w.leave();
        }
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
        if w.enter(key, NodeHeader::node("RngStream")) {
            // A stream's Variables are fixed slots: never removable by `pop`.
            let fixed = Place::Fixed;
            self.count.walk_field_mut(&Key::from("count"), w, fixed);
            self.key.walk_field_mut(&Key::from("key"), w, fixed);
            self.tag.walk_field_mut(&Key::from("tag"), w, fixed);
            w.leave();
        }
        Action::Keep
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        b.enter(key)?;
        let count = RngCount::build_field(&Key::from("count"), b)?;
        let rng_key = RngKey::build_field(&Key::from("key"), b)?;
        let tag = String::build_field(&Key::from("tag"), b)?;
        b.leave()?;
        Ok(RngStream {
            key: rng_key,
            count,
            tag,
        })
    }
}

impl Module for RngStream {}
