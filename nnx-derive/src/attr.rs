//! Parsing `#[nnx(...)]` attributes into typed structs.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, Meta, Path, Token};

use crate::ctxt::Errors;

/// Field-level options; each holds the span of its attribute key.
#[derive(Default)]
pub struct FieldAttrs {
    /// `#[nnx(static)]`.
    pub is_static: Option<Span>,
    /// `#[nnx(skip)]`.
    pub skip: Option<Span>,
    /// `#[nnx(sow)]`.
    pub sow: Option<Span>,
    /// `#[nnx(rename = "...")]`: the name and the span of the literal.
    pub rename: Option<(String, Span)>,
}

/// Container-level options.
#[derive(Default)]
pub struct ContainerAttrs {
    /// `#[nnx(crate = "path")]`.
    pub krate: Option<Path>,
    /// `#[nnx(transparent)]` on an enum: every variant is transparent.
    pub transparent: Option<Span>,
}

/// Variant-level options.
#[derive(Default)]
pub struct VariantAttrs {
    /// `#[nnx(transparent)]`: the variant's one field stands at the enum's own key.
    pub transparent: Option<Span>,
}

const FIELD_KEYS: &str = "`static`, `skip`, `rename = \"...\"` or `sow`";
const CONTAINER_KEYS: &str = "`crate = \"...\"` or `transparent` (on an enum)";

/// Parses the `#[nnx(...)]` attributes of a field.
pub fn parse_field(attrs: &[Attribute], cx: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for_each_option(attrs, cx, |name, meta, cx| {
        let slot = match name {
            "static" => &mut out.is_static,
            "skip" => &mut out.skip,
            "sow" => &mut out.sow,
            "rename" => {
                let value = string_value(&meta, name, cx)?;
                if out.rename.is_some() {
                    cx.at(meta.path.span(), "duplicate nnx attribute `rename`");
                } else if let Some(v) = value {
                    out.rename = Some(v);
                }
                return Ok(());
            }
            _ => {
                cx.at(
                    meta.path.span(),
                    format!("unknown nnx field attribute `{name}`; expected {FIELD_KEYS}"),
                );
                return skip_value(&meta);
            }
        };
        flag(slot, name, &meta, cx)
    });
    out
}

/// Parses the `#[nnx(...)]` attributes of an enum variant.
pub fn parse_variant(attrs: &[Attribute], cx: &mut Errors) -> VariantAttrs {
    let mut out = VariantAttrs::default();
    for_each_option(attrs, cx, |name, meta, cx| {
        if name == "transparent" {
            return flag(&mut out.transparent, name, &meta, cx);
        }
        cx.at(
            meta.path.span(),
            format!("unknown nnx variant attribute `{name}`; expected `transparent`"),
        );
        skip_value(&meta)
    });
    out
}

/// Records a flag option (no value) in `slot`, reporting a value or a duplicate.
fn flag(
    slot: &mut Option<Span>,
    name: &str,
    meta: &ParseNestedMeta<'_>,
    cx: &mut Errors,
) -> syn::Result<()> {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        cx.at(
            meta.path.span(),
            format!("`{name}` takes no value: write `#[nnx({name})]`"),
        );
        skip_value(meta)?;
    }
    if slot.is_some() {
        cx.at(
            meta.path.span(),
            format!("duplicate nnx attribute `{name}`"),
        );
    } else {
        *slot = Some(meta.path.span());
    }
    Ok(())
}

/// Parses the `#[nnx(...)]` attributes of a struct or enum.
pub fn parse_container(attrs: &[Attribute], cx: &mut Errors) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for_each_option(attrs, cx, |name, meta, cx| {
        if name == "transparent" {
            return flag(&mut out.transparent, name, &meta, cx);
        }
        if name != "crate" {
            cx.at(
                meta.path.span(),
                format!("unknown nnx container attribute `{name}`; expected {CONTAINER_KEYS}"),
            );
            return skip_value(&meta);
        }
        let Some((value, span)) = string_value(&meta, name, cx)? else {
            return Ok(());
        };
        if out.krate.is_some() {
            cx.at(meta.path.span(), "duplicate nnx attribute `crate`");
            return Ok(());
        }
        match syn::parse_str::<Path>(&value) {
            Ok(path) => out.krate = Some(path),
            Err(_) => cx.at(
                span,
                format!("`crate` must be a path such as \"::nnx\", found {value:?}"),
            ),
        }
        Ok(())
    });
    out
}

/// Calls `f` with the name of each option of each `#[nnx(...)]`.
fn for_each_option(
    attrs: &[Attribute],
    cx: &mut Errors,
    mut f: impl FnMut(&str, ParseNestedMeta<'_>, &mut Errors) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("nnx")) {
        match &attr.meta {
            Meta::List(_) => {
                let mut inner = Errors::default();
                let res = attr.parse_nested_meta(|meta| {
                    let name = match meta.path.get_ident() {
                        Some(ident) => ident.to_string(),
                        None => {
                            inner.at(meta.path.span(), "expected an nnx option name, not a path");
                            return skip_value(&meta);
                        }
                    };
                    f(&name, meta, &mut inner)
                });
                if let Err(e) = inner.finish() {
                    cx.push(e);
                }
                if let Err(e) = res {
                    cx.push(e);
                }
            }
            Meta::Path(p) => cx.at(p.span(), "expected a list of options: `#[nnx(...)]`"),
            Meta::NameValue(nv) => cx.at(
                nv.eq_token.span,
                "expected a list of options: `#[nnx(...)]`, not `#[nnx = ...]`",
            ),
        }
    }
}

/// Reads `name = "string"`; a missing or non-string value is reported and skipped.
fn string_value(
    meta: &ParseNestedMeta<'_>,
    name: &str,
    cx: &mut Errors,
) -> syn::Result<Option<(String, Span)>> {
    if !meta.input.peek(Token![=]) {
        cx.at(
            meta.path.span(),
            format!("`{name}` needs a value: `{name} = \"...\"`"),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(Some((s.value(), s.span()))),
        other => {
            cx.at(
                other.span(),
                format!("expected a string literal: `{name} = \"...\"`"),
            );
            Ok(None)
        }
    }
}

/// Consumes whatever value follows an option (`= expr` or `(...)`).
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn field(attrs: Vec<Attribute>) -> (FieldAttrs, Vec<String>) {
        let mut cx = Errors::default();
        let out = parse_field(&attrs, &mut cx);
        let errors = match cx.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (out, errors)
    }

    #[test]
    fn parses_all_field_options() {
        let (a, errors) = field(vec![
            parse_quote!(#[nnx(static, rename = "x")]),
            parse_quote!(#[doc = "ignored"]),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(a.is_static.is_some() && a.skip.is_none() && a.sow.is_none());
        assert_eq!(a.rename.map(|r| r.0).as_deref(), Some("x"));
        let (a, errors) = field(vec![parse_quote!(#[nnx(skip)]), parse_quote!(#[nnx(sow)])]);
        assert!(errors.is_empty() && a.skip.is_some() && a.sow.is_some());
    }

    #[test]
    fn reports_every_error() {
        let (_, errors) = field(vec![parse_quote!(
            #[nnx(static, static, bogus = 1, rename = 3, skip = true)]
        )]);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("duplicate nnx attribute `static`"));
        assert!(errors[1].contains("unknown nnx field attribute `bogus`"));
        assert!(errors[2].contains("expected a string literal"));
        assert!(errors[3].contains("`skip` takes no value"));
    }

    #[test]
    fn rejects_non_list_forms() {
        let (_, errors) = field(vec![parse_quote!(#[nnx]), parse_quote!(#[nnx = "x"])]);
        assert_eq!(errors.len(), 2);
        assert!(errors
            .iter()
            .all(|e| e.contains("expected a list of options")));
    }

    #[test]
    fn container_crate() {
        let mut cx = Errors::default();
        let a = parse_container(&[parse_quote!(#[nnx(crate = "::my::nnx")])], &mut cx);
        assert!(cx.finish().is_ok());
        let path = a.krate.map(|p| quote::quote!(#p).to_string());
        assert_eq!(path.as_deref(), Some(":: my :: nnx"));
        let mut cx = Errors::default();
        parse_container(
            &[parse_quote!(#[nnx(crate = "not a path", crate = "a", static)])],
            &mut cx,
        );
        let errors: Vec<String> = cx
            .finish()
            .err()
            .into_iter()
            .flatten()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("`crate` must be a path"));
        assert!(errors[1].contains("unknown nnx container attribute `static`"));
    }
}
