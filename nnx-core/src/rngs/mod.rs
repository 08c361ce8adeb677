//! Random state as object state: [`Rngs`] and [`RngStream`] (Flax's
//! `nnx.rnglib`), bit-compatible with Flax 0.12.
//!
//! An [`Rngs`] holds named [`RngStream`]s. Each stream is a base key and a
//! counter kept in [`RngKey`](struct@crate::RngKey) and [`RngCount`](struct@crate::RngCount)
//! Variables, so random state is part of a module's [`State`](crate::State):
//! it can be split off, merged back, filtered by stream name and restored.
//!
//! ```
//! use nnx_core::prelude::*;
//! let mut rngs = Rngs::new(0).with("dropout", 1);
//! let k1 = rngs.next_key("params")?; // no `params` stream: falls back to `default`
//! let k2 = rngs.default_key()?;
//! assert_ne!(k1, k2);
//! assert_eq!(rngs.state_of("dropout").len(), 2); // its key and count
//! # Ok::<(), nnx_core::Error>(())
//! ```
//!
//! # One deliberate difference from Flax
//!
//! In Flax 0.12, streams that `Rngs.split` ([`Rngs::split_only`]) passes through
//! unsplit are rebuilt with their counter at 0, so the new `Rngs` hands out keys
//! the old one already gave (google/flax PR #5529). Here a passed-through stream
//! keeps its counter: splitting or forking never rewinds a stream. Everything
//! else (key values, counts, printed state) matches Flax exactly.

mod key_value;
mod stream;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub use stream::RngStream;

use crate::builtin::{RngCount, RngKey};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::graph::std_impls::{build_map, walk_map, walk_map_mut};
use crate::graph::tracker::PathTracker;
use crate::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
use crate::key::Key;
use crate::random::PrngKey;
use crate::variable::AnyVariable;
use crate::Module;

/// Named random streams (Flax's `nnx.Rngs`), kept sorted by name.
///
/// Asking for a stream that does not exist falls back to the `default` stream;
/// without a `default` it is an [`Error::MissingStream`].
///
/// ```
/// use nnx_core::random::{fold_in, key};
/// use nnx_core::rngs::Rngs;
/// let mut rngs = Rngs::from_streams([("params", 0), ("dropout", 1)]);
/// assert_eq!(rngs.next_key("params")?, fold_in(key(0), 0));
/// assert_eq!(rngs.next_key("params")?, fold_in(key(0), 1));
/// assert!(rngs.next_key("noise").is_err()); // no `default` to fall back to
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Rngs {
    streams: BTreeMap<String, RngStream>,
}

impl Rngs {
    /// One `default` stream seeded with `seed` (Flax's `nnx.Rngs(seed)`).
    ///
    /// ```
    /// let rngs = nnx_core::rngs::Rngs::new(0);
    /// assert_eq!(rngs.names().collect::<Vec<_>>(), ["default"]);
    /// ```
    pub fn new(seed: i64) -> Self {
        Rngs::default().with("default", seed)
    }

    /// Adds (or replaces) the stream `name` seeded with `seed`: Flax's
    /// `nnx.Rngs(0, dropout=1)` is `Rngs::new(0).with("dropout", 1)`.
    ///
    /// ```
    /// let rngs = nnx_core::rngs::Rngs::new(0).with("dropout", 1);
    /// assert!(rngs.contains("dropout"));
    /// ```
    pub fn with(self, name: impl Into<String>, seed: i64) -> Self {
        let name = name.into();
        let stream = RngStream::new(name.clone(), seed);
        self.with_stream(name, stream)
    }

    /// Adds (or replaces) the stream `name` with base key `key`.
    ///
    /// ```
    /// use nnx_core::random::PrngKey;
    /// let rngs = nnx_core::rngs::Rngs::default().with_key("params", PrngKey::from_data([1, 2]));
    /// assert_eq!(rngs.get("params").map(|s| s.key().data()), Some([1, 2]));
    /// ```
    pub fn with_key(self, name: impl Into<String>, key: PrngKey) -> Self {
        let name = name.into();
        let stream = RngStream::from_key(name.clone(), key);
        self.with_stream(name, stream)
    }

    /// Adds (or replaces) the stream `name`, keeping its key and count. Its tag
    /// becomes `name` when they differ, as Flax retags a stream passed to `Rngs`.
    ///
    /// ```
    /// use nnx_core::rngs::{Rngs, RngStream};
    /// let mut s = RngStream::new("x", 0);
    /// s.next_key();
    /// let rngs = Rngs::default().with_stream("params", s);
    /// let p = rngs.get("params").unwrap();
    /// assert_eq!((p.tag(), p.count()), ("params", 1));
    /// ```
    pub fn with_stream(mut self, name: impl Into<String>, stream: RngStream) -> Self {
        let name = name.into();
        let stream = if stream.tag() == name {
            stream
        } else {
            let count = stream.count();
            let mut s = RngStream::from_key(name.clone(), stream.key());
            s.set_count(count);
            s
        };
        self.streams.insert(name, stream);
        self
    }

    /// Streams from `(name, seed)` pairs (Flax's `nnx.Rngs(params=0, dropout=1)`).
    ///
    /// ```
    /// let rngs = nnx_core::rngs::Rngs::from_streams([("default", 0), ("params", 1)]);
    /// assert_eq!(rngs.len(), 2);
    /// ```
    pub fn from_streams<S: Into<String>>(streams: impl IntoIterator<Item = (S, i64)>) -> Self {
        streams
            .into_iter()
            .fold(Rngs::default(), |rngs, (name, seed)| rngs.with(name, seed))
    }

    /// The stream `name`, or `default` when there is no such stream (Flax's
    /// `rngs[name]` / `rngs.name`).
    ///
    /// # Errors
    /// [`Error::MissingStream`] when neither `name` nor `default` exists.
    ///
    /// ```
    /// let mut rngs = nnx_core::rngs::Rngs::new(0);
    /// assert_eq!(rngs.stream("dropout")?.tag(), "default");
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn stream(&mut self, name: &str) -> Result<&mut RngStream> {
        let name_or_default = if self.streams.contains_key(name) {
            name
        } else {
            "default"
        };
        let available = self.streams.keys().cloned().collect();
        self.streams
            .get_mut(name_or_default)
            .ok_or_else(|| Error::MissingStream {
                name: name.to_string(),
                available,
            })
    }

    /// The stream named exactly `name` (no fallback).
    ///
    /// ```
    /// let rngs = nnx_core::rngs::Rngs::new(0);
    /// assert!(rngs.get("default").is_some() && rngs.get("params").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&RngStream> {
        self.streams.get(name)
    }

    /// Whether a stream is named exactly `name` (Flax's `name in rngs`).
    ///
    /// ```
    /// assert!(!nnx_core::rngs::Rngs::new(0).contains("params"));
    /// ```
    pub fn contains(&self, name: &str) -> bool {
        self.streams.contains_key(name)
    }

    /// The stream names, sorted.
    ///
    /// ```
    /// let rngs = nnx_core::rngs::Rngs::from_streams([("b", 0), ("a", 1)]);
    /// assert_eq!(rngs.names().collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.streams.keys().map(String::as_str)
    }

    /// The streams with their names, sorted by name (Flax's `rngs.items()`).
    ///
    /// ```
    /// let rngs = nnx_core::rngs::Rngs::new(7);
    /// let (name, s) = rngs.iter().next().unwrap();
    /// assert_eq!((name, s.key()), ("default", nnx_core::random::key(7)));
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RngStream)> {
        self.streams.iter().map(|(n, s)| (n.as_str(), s))
    }

    /// The number of streams.
    ///
    /// ```
    /// assert_eq!(nnx_core::rngs::Rngs::new(0).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether there are no streams.
    ///
    /// ```
    /// assert!(nnx_core::rngs::Rngs::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// The next key of stream `name`, falling back to `default` (Flax's
    /// `rngs.params()`, `rngs['params']()`).
    ///
    /// # Errors
    /// [`Error::MissingStream`] when neither `name` nor `default` exists.
    ///
    /// ```
    /// use nnx_core::random::{fold_in, key};
    /// let mut rngs = nnx_core::rngs::Rngs::new(0).with("params", 1);
    /// assert_eq!(rngs.next_key("params")?, fold_in(key(1), 0));
    /// assert_eq!(rngs.next_key("dropout")?, fold_in(key(0), 0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn next_key(&mut self, name: &str) -> Result<PrngKey> {
        self.stream(name).map(RngStream::next_key)
    }

    /// The next key of the `default` stream (Flax's `rngs()`).
    ///
    /// # Errors
    /// [`Error::MissingStream`] when there is no `default` stream.
    ///
    /// ```
    /// let mut rngs = nnx_core::rngs::Rngs::new(0);
    /// assert_eq!(rngs.default_key()?, nnx_core::random::fold_in(nnx_core::random::key(0), 0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn default_key(&mut self) -> Result<PrngKey> {
        self.next_key("default")
    }

    /// New `Rngs` whose every stream is forked: its base key is the old stream's
    /// next key, its count 0 (Flax's `rngs.fork()`). Every stream here advances by one.
    ///
    /// ```
    /// let mut rngs = nnx_core::rngs::Rngs::new(0).with("params", 1);
    /// let mut child = rngs.fork();
    /// assert_ne!(child.next_key("params")?, rngs.next_key("params")?);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn fork(&mut self) -> Rngs {
        let streams = self
            .streams
            .iter_mut()
            .map(|(name, s)| (name.clone(), s.fork()))
            .collect();
        Rngs { streams }
    }

    /// Splits every stream into `k` (Flax's `rngs.split(k)`): `k` new `Rngs`,
    /// number `i` holding, for each stream, `random::split(stream.next_key(), k)[i]`
    /// with count 0. Flax returns one `Rngs` whose keys have shape `(k,)`; these
    /// are its `k` slices. (It is not named `split`: that is
    /// [`Module::split`], the graph split into a GraphDef and States.)
    ///
    /// ```
    /// let mut rngs = nnx_core::rngs::Rngs::new(0);
    /// let parts = rngs.split_into(4);
    /// assert_eq!(parts.len(), 4);
    /// assert_ne!(parts[0].get("default").unwrap().key(), parts[1].get("default").unwrap().key());
    /// ```
    pub fn split_into(&mut self, k: usize) -> Vec<Rngs> {
        self.split_only(true, k)
    }

    /// Splits the streams selected by `filter` into `k` like [`split_into`](Rngs::split_into);
    /// the others are copied unchanged into every part, **keeping their counts**
    /// (Flax's `rngs.split({filter: k})`, without Flax's counter rewind).
    ///
    /// The filter sees each stream's key Variable at path `[name]`, so a `&str`
    /// filter selects a stream by name.
    ///
    /// ```
    /// let mut rngs = nnx_core::rngs::Rngs::from_streams([("params", 0), ("dropout", 1)]);
    /// let used = rngs.next_key("dropout")?;
    /// let mut parts = rngs.split_only("params", 2);
    /// // `dropout` was passed through: it continues, it does not repeat `used`.
    /// assert_ne!(parts[0].next_key("dropout")?, used);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn split_only(&mut self, filter: impl Filter, k: usize) -> Vec<Rngs> {
        self.per_stream(filter, k, RngStream::split_into)
    }

    /// `k` new `Rngs` in which each stream selected by `filter` is broadcast (one
    /// next key shared by all `k`); the others are copied keeping their counts
    /// (Flax's `rngs.broadcast({filter: k})`, unstacked).
    ///
    /// ```
    /// let mut rngs = nnx_core::rngs::Rngs::new(0);
    /// let parts = rngs.broadcast(true, 3);
    /// assert_eq!(parts[0].get("default").unwrap().key(), parts[2].get("default").unwrap().key());
    /// ```
    pub fn broadcast(&mut self, filter: impl Filter, k: usize) -> Vec<Rngs> {
        self.per_stream(filter, k, RngStream::broadcast)
    }

    /// Builds `k` `Rngs` from `make(stream, k)` for selected streams and copies of
    /// the others.
    fn per_stream(
        &mut self,
        filter: impl Filter,
        k: usize,
        make: fn(&mut RngStream, usize) -> Vec<RngStream>,
    ) -> Vec<Rngs> {
        let mut parts = vec![Rngs::default(); k];
        for (name, stream) in self.streams.iter_mut() {
            let path = [Key::from(name.clone())];
            let new: Vec<RngStream> = if filter.matches(
                &path,
                crate::variable::VariableType::as_variable(stream.key_variable()),
            ) {
                make(stream, k)
            } else {
                vec![stream.clone(); k]
            };
            for (part, s) in parts.iter_mut().zip(new) {
                part.streams.insert(name.clone(), s);
            }
        }
        parts
    }

    /// Reseeds the streams tagged `name` as `nnx.reseed(rngs, name=seed)` does:
    /// base key `fold_in(key(seed), 0)`, count 0.
    ///
    /// # Errors
    /// [`Error::MissingStream`] when no stream is tagged `name` (Flax ignores it;
    /// a typo here would silently leave the stream as it is).
    ///
    /// ```
    /// use nnx_core::random::{fold_in, key};
    /// let mut rngs = nnx_core::rngs::Rngs::new(0).with("dropout", 1);
    /// rngs.next_key("dropout")?;
    /// rngs.reseed("dropout", 42)?;
    /// assert_eq!(rngs.next_key("dropout")?, fold_in(fold_in(key(42), 0), 0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn reseed(&mut self, name: &str, seed: i64) -> Result<()> {
        if reseed(self, &[(name, seed)])? == 0 {
            return Err(Error::MissingStream {
                name: name.to_string(),
                available: self.streams.keys().cloned().collect(),
            });
        }
        Ok(())
    }
}

/// Prints as Flax prints an `Rngs`, streams sorted by name (Flax keeps them in
/// the order they were given, so the texts agree when that order is sorted).
///
/// ```
/// let rngs = nnx_core::rngs::Rngs::new(0);
/// assert!(rngs.to_string().starts_with("Rngs( # RngState: 2 (12 B)\n  default=RngStream( # RngState: 2 (12 B)\n"));
/// ```
impl std::fmt::Display for Rngs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.streams.is_empty() {
            return f.write_str("Rngs()");
        }
        let (n, bytes) = self
            .streams
            .values()
            .map(stream::stream_size)
            .fold((0, 0), |(a, b), (n, m)| (a + n, b + m));
        write!(f, "Rngs( {}", stream::state_comment(n, bytes))?;
        for (i, (name, s)) in self.streams.iter().enumerate() {
            f.write_str(if i == 0 { "\n  " } else { ",\n  " })?;
            write!(f, "{name}=")?;
            s.fmt_indented(f, 2)?;
        }
        f.write_str("\n)")
    }
}

/// A node `Rngs` whose children are the streams under their names, sorted.
impl Field for Rngs {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        walk_map(&self.streams, key, NodeHeader::node("Rngs"), w)
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
        walk_map_mut(
            &mut self.streams,
            key,
            NodeHeader::node("Rngs"),
            w,
            Place::Fixed,
        )
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        build_map(key, b).map(|streams| Rngs { streams })
    }
}

impl Module for Rngs {}

/// Reseeds every random stream of a module graph whose tag is one of `streams`
/// (Flax's `nnx.reseed(model, dropout=42)`): a fresh `Rngs` is made from the
/// `(tag, seed)` pairs and each matching stream, in graph order, takes that
/// stream's next key as base key and count 0. Returns how many streams were
/// reseeded (Flax ignores tags that match nothing; check the count if it matters).
///
/// Streams are recognised by their Variables: an [`RngKey`](struct@crate::RngKey) holding a [`PrngKey`](struct@crate::random::PrngKey)
/// and an [`RngCount`](struct@crate::RngCount) holding a `u32`, with the `tag` metadata.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::rngs::reseed;
/// let mut layers = vec![Rngs::new(0).with("dropout", 1), Rngs::new(2).with("dropout", 3)];
/// assert_eq!(reseed(&mut layers, &[("dropout", 42)])?, 2);
/// // Like Flax, the second stream gets the reseed Rngs' second key.
/// let (k0, k1) = (layers[0].get("dropout").unwrap().key(), layers[1].get("dropout").unwrap().key());
/// assert_ne!(k0, k1);
/// # Ok::<(), nnx_core::Error>(())
/// ```
///
/// A [`Shared`](crate::Shared) locked by a live guard, or a graph deeper than
/// [`MAX_DEPTH`](crate::MAX_DEPTH), is an error, and then nothing is reseeded.
pub fn reseed<M: Module>(module: &mut M, streams: &[(&str, i64)]) -> Result<usize> {
    let mut w = Reseeder {
        fresh: Rngs::from_streams(streams.iter().copied()),
        seen: HashSet::new(),
        reseeded: 0,
        tracker: PathTracker::default(),
        dry_run: true,
    };
    // A dry run first meets every lock and depth limit the reseeding would.
    module.walk_field_mut(&crate::graph::ROOT, &mut w, Place::Fixed);
    w.tracker.finish()?;
    w.seen.clear();
    w.dry_run = false;
    module.walk_field_mut(&crate::graph::ROOT, &mut w, Place::Fixed);
    w.tracker.finish()?;
    Ok(w.reseeded)
}

/// Walks a graph, resetting the key and count Variables of matching streams
/// (in a dry run, only walking it).
struct Reseeder {
    fresh: Rngs,
    seen: HashSet<usize>,
    reseeded: usize,
    tracker: PathTracker,
    dry_run: bool,
}

impl WalkerMut for Reseeder {
    fn enter(&mut self, key: &Key, header: NodeHeader) -> bool {
        if !self.tracker.admit(key) {
            return false;
        }
        self.tracker.enter(key, header.transparent);
        true
    }
    fn leave(&mut self) {
        self.tracker.leave();
    }
    fn locked(&mut self, key: &Key) {
        self.tracker.locked(key);
    }
    fn shared(&mut self, _key: &Key, id: usize) -> bool {
        // A shared stream is reseeded once, as Flax's iter_graph visits it once.
        self.seen.insert(id)
    }
    fn variable(&mut self, _key: &Key, var: &mut dyn AnyVariable, _: Place) -> Action {
        if self.dry_run {
            return Action::Keep;
        }
        let tag = match var.metadata().get("tag") {
            Some(crate::MetaValue::Str(t)) => t.clone(),
            _ => return Action::Keep,
        };
        let Some(stream) = self.fresh.streams.get_mut(&tag) else {
            return Action::Keep;
        };
        let kind = var.kind();
        let new_value: Arc<dyn crate::value::Value> =
            if kind.is_subtype_of(RngKey) && var.value_dyn().as_any().is::<PrngKey>() {
                self.reseeded += 1;
                Arc::new(stream.next_key())
            } else if kind.is_subtype_of(RngCount) && var.value_dyn().as_any().is::<u32>() {
                Arc::new(0u32)
            } else {
                return Action::Keep;
            };
        let leaf = var.to_state().with_value(new_value);
        // Same kind and value type as checked above, so this cannot fail.
        let _ = var.update_from(&leaf, "");
        Action::Keep
    }
}

#[cfg(test)]
mod tests;
