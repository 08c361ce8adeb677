//! Error collection: every problem is reported, not just the first.

use std::fmt::Display;

use proc_macro2::Span;

/// The errors found while parsing and checking one derive input.
#[derive(Default)]
pub struct Errors(Vec<syn::Error>);

impl Errors {
    /// Records an error at `span`.
    pub fn at(&mut self, span: Span, msg: impl Display) {
        self.0.push(syn::Error::new(span, msg));
    }

    /// Records an error.
    pub fn push(&mut self, err: syn::Error) {
        self.0.push(err);
    }

    /// All errors combined into one, if there are any.
    pub fn finish(self) -> Result<(), syn::Error> {
        let mut iter = self.0.into_iter();
        match iter.next() {
            None => Ok(()),
            Some(mut first) => {
                for e in iter {
                    first.combine(e);
                }
                Err(first)
            }
        }
    }
}
