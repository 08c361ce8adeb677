//! Validation of the IR; every problem found is recorded.

use std::collections::BTreeMap;

use syn::spanned::Spanned;
use syn::GenericParam;

use crate::ast::{Container, Data, Field, FieldKind, Key, Variant};
use crate::ctxt::Errors;

/// Checks everything the IR can express but the derive does not support.
pub fn check(cont: &Container<'_>, cx: &mut Errors) {
    if let Data::Union(span) = &cont.data {
        cx.at(
            *span,
            "#[derive(Module)] does not support unions; use a struct or an enum",
        );
    }
    for param in &cont.generics.params {
        if let GenericParam::Lifetime(l) = param {
            cx.at(
                l.span(),
                "#[derive(Module)] does not support lifetime parameters: modules own their data",
            );
        }
    }
    if let (Some(span), false) = (cont.attrs.transparent, matches!(cont.data, Data::Enum(_))) {
        cx.at(
            span,
            "`transparent` applies to enums: it puts a newtype variant's value at the enum's own key",
        );
    }
    match &cont.data {
        Data::Struct(_, fields) => check_fields(fields, cx),
        Data::Enum(variants) => {
            for v in variants {
                check_fields(&v.fields, cx);
                if v.transparent {
                    check_transparent(v, cx);
                }
                for f in &v.fields {
                    if let Some(span) = f.attrs.sow {
                        cx.at(
                            span,
                            "`sow` is only supported on struct fields, not in enum variants",
                        );
                    }
                }
            }
        }
        Data::Union(_) => {}
    }
    let sows: Vec<_> = cont
        .all_fields()
        .into_iter()
        .filter_map(|f| f.attrs.sow)
        .collect();
    for extra in sows.iter().skip(1) {
        cx.at(*extra, "a module has at most one `#[nnx(sow)]` field");
    }
}

fn check_fields(fields: &[Field<'_>], cx: &mut Errors) {
    let mut seen: BTreeMap<&Key, &Field> = BTreeMap::new();
    for f in fields {
        let a = &f.attrs;
        if let (Some(_), Some(skip)) = (a.is_static, a.skip) {
            cx.at(
                skip,
                "`static` and `skip` cannot be combined: a skipped field is not in the graph",
            );
        }
        if let Some(sow) = a.sow {
            for (other, name) in [(a.is_static, "static"), (a.skip, "skip")] {
                if other.is_some() {
                    cx.at(sow, format!("`sow` cannot be combined with `{name}`"));
                }
            }
            if let Some((_, span)) = &a.rename {
                cx.at(
                    *span,
                    "`sow` cannot be combined with `rename`: the sow store adds no path component",
                );
            }
        }
        if let Some((name, span)) = &a.rename {
            if matches!(f.key, Key::Int(_)) {
                cx.at(
                    *span,
                    "`rename` is only supported on named fields; tuple fields are keyed by index",
                );
            } else if name.is_empty() {
                cx.at(*span, "`rename` needs a non-empty name");
            }
        }
        if f.kind == FieldKind::Skip || matches!(&a.rename, Some((n, _)) if n.is_empty()) {
            continue;
        }
        if let Some(first) = seen.get(&f.key) {
            let at = a.rename.as_ref().map_or(f.span, |r| r.1);
            cx.at(
                at,
                format!(
                    "duplicate key {}: field `{}` already has it",
                    f.key,
                    member_name(first)
                ),
            );
        } else {
            seen.insert(&f.key, f);
        }
    }
}

/// A transparent variant holds exactly one tuple field, walked as is.
fn check_transparent(v: &Variant<'_>, cx: &mut Errors) {
    let at = v.attrs.transparent.unwrap_or(v.span);
    let by = if v.attrs.transparent.is_some() {
        ""
    } else {
        " (the enum's #[nnx(transparent)] applies to every variant)"
    };
    let newtype = v.fields.len() == 1 && matches!(v.fields[0].key, Key::Int(_));
    if !newtype {
        cx.at(
            at,
            format!(
                "`transparent` needs a newtype variant such as `{0}(Inner)`, \
                 but `{0}` has {1}{by}",
                v.ident,
                describe_fields(&v.fields),
            ),
        );
        return;
    }
    let a = &v.fields[0].attrs;
    for (span, name) in [(a.is_static, "static"), (a.skip, "skip")] {
        if let Some(span) = span {
            cx.at(
                span,
                format!(
                    "`{name}` cannot be combined with a transparent variant: its field is the node"
                ),
            );
        }
    }
}

fn describe_fields(fields: &[Field<'_>]) -> String {
    match (fields.len(), fields.first().map(|f| &f.key)) {
        (0, _) => "no fields".to_string(),
        (1, Some(Key::Str(_))) => "a named field".to_string(),
        (n, _) => format!("{n} fields"),
    }
}

fn member_name(f: &Field<'_>) -> String {
    match &f.member {
        syn::Member::Named(i) => i.to_string(),
        syn::Member::Unnamed(i) => i.index.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn errors(input: syn::DeriveInput) -> Vec<String> {
        let mut cx = Errors::default();
        let cont = Container::from_ast(&input, &mut cx);
        check(&cont, &mut cx);
        cx.finish()
            .err()
            .into_iter()
            .flatten()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn valid_inputs() {
        assert!(errors(parse_quote!(
            struct A {
                #[nnx(rename = "b")]
                a: u8,
                #[nnx(sow)]
                s: S,
                #[nnx(skip)]
                b: u8,
            }
        ))
        .is_empty());
        assert!(errors(parse_quote!(
            enum E {
                A(u8),
                B { x: u8 },
                C = 3,
            }
        ))
        .is_empty());
    }

    #[test]
    fn collects_all_errors() {
        let e = errors(parse_quote!(
            struct A<'a> {
                #[nnx(static, skip)]
                a: u8,
                #[nnx(rename = "a")]
                b: u8,
                #[nnx(rename = "")]
                c: u8,
                #[nnx(sow, static)]
                d: S,
                #[nnx(sow)]
                e: S,
            }
        ));
        assert_eq!(e.len(), 6, "{e:?}");
        assert!(e[0].contains("lifetime"));
        assert!(e[1].contains("`static` and `skip`"));
        assert!(e[2].contains("duplicate key \"a\""));
        assert!(e[3].contains("non-empty"));
        assert!(e[4].contains("`sow` cannot be combined with `static`"));
        assert!(e[5].contains("at most one"));
    }

    #[test]
    fn transparent_variants() {
        assert!(errors(parse_quote!(
            #[nnx(transparent)]
            enum E {
                A(u8),
                #[nnx(transparent)]
                B(u8),
            }
        ))
        .is_empty());
        let e = errors(parse_quote!(
            enum E {
                #[nnx(transparent)]
                A(u8, u8),
                #[nnx(transparent)]
                B(#[nnx(skip)] u8),
                #[nnx(transparent)]
                C,
            }
        ));
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].contains("`A` has 2 fields"));
        assert!(e[1].contains("`skip` cannot be combined with a transparent variant"));
        assert!(e[2].contains("`C` has no fields"));
        let e = errors(parse_quote!(
            #[nnx(transparent)]
            struct S(u8);
        ));
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("applies to enums"));
    }

    #[test]
    fn tuple_and_union() {
        let e = errors(parse_quote!(
            struct T(#[nnx(rename = "x")] u8);
        ));
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("only supported on named fields"));
        let e = errors(parse_quote!(union U { a: u8 }));
        assert!(e[0].contains("unions"));
    }
}
