//! Procedural macros of nnx: `#[derive(Module)]`.
//!
//! Use the derive through `nnx` (or `nnx_core`), whose documentation of
//! `derive(Module)` has runnable examples.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod ast;
mod attr;
mod bound;
mod check;
mod ctxt;
mod expand;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `Field`, `Module` and, with a `#[nnx(sow)]` field, `Sow`.
///
/// Every field takes part in the graph through its type's `Field` impl, under its
/// name (or its index in a tuple struct); children are visited in sorted key order.
/// Enum variants are nodes named `"Enum::Variant"`; with `#[nnx(transparent)]` (on
/// a newtype variant, or on the enum for all of them) the variant adds no path
/// level and its value stands at the enum's own key.
///
/// Field options:
///
/// - `#[nnx(static)]`: a hyperparameter stored in the GraphDef (`Clone + Debug +
///   PartialEq + Hash`);
/// - `#[nnx(skip)]`: not in the graph; merge rebuilds it with `Default`;
/// - `#[nnx(rename = "name")]`: the field's key in paths;
/// - `#[nnx(sow)]`: the `Sown` store of a module that can `sow` (at most one).
///
/// Container option: `#[nnx(crate = "path")]`, the path of `nnx` (by default
/// `::nnx`, or `::nnx_core` in crates that depend only on nnx-core).
///
/// ```text
/// #[derive(Module)]
/// struct Mlp {
///     layers: Vec<Linear>,
///     #[nnx(static)]
///     activation: Activation,
/// }
/// ```
#[proc_macro_derive(Module, attributes(nnx))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
