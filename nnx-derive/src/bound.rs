//! The where-clause of the generated impls.

use std::collections::BTreeSet;

use syn::visit::{self, Visit};
use syn::{parse_quote, Generics, Ident, Path, Type, WherePredicate};

use crate::ast::{Container, FieldKind};

/// The container's generics plus, for each type parameter: `Field` if it appears in
/// a walked field, and `Send + Sync + 'static` (which `Field` requires of the
/// whole type) otherwise; a static field's type that mentions a parameter must be
/// a `StaticHyperparameter` (the field's type, not the parameter: a
/// `fn(&Tensor<E>) -> Tensor<E>` is hashable though `f32` is not), and a skipped
/// field's type that mentions one must be `Default`. The user's where-clauses are
/// kept.
pub fn with_bounds(cont: &Container<'_>, krate: &Path) -> Generics {
    let params: Vec<&Ident> = cont.generics.type_params().map(|p| &p.ident).collect();
    let mut node = BTreeSet::new();
    let mut generics = cont.generics.clone();
    let clause = generics.make_where_clause();
    for f in cont.all_fields() {
        let found = mentioned(f.ty, &params);
        match f.kind {
            FieldKind::Node | FieldKind::Sow => node.extend(found),
            FieldKind::Static if !found.is_empty() => {
                let ty = f.ty;
                clause
                    .predicates
                    .push(parse_quote!(#ty: #krate::graph::StaticHyperparameter));
            }
            FieldKind::Static => {}
            FieldKind::Skip if !found.is_empty() => {
                let ty = f.ty;
                clause
                    .predicates
                    .push(parse_quote!(#ty: ::core::default::Default));
            }
            FieldKind::Skip => {}
        }
    }
    for param in &params {
        let bounds: Vec<WherePredicate> = [
            node.contains(param)
                .then(|| parse_quote!(#param: #krate::graph::Field)),
            (!node.contains(param)).then(
                || parse_quote!(#param: ::core::marker::Send + ::core::marker::Sync + 'static),
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        clause.predicates.extend(bounds);
    }
    if cont.generics.lifetimes().next().is_some() {
        clause.predicates.push(parse_quote!(Self: 'static));
    }
    generics
}

/// The type parameters among `params` that `ty` mentions.
fn mentioned<'p>(ty: &Type, params: &[&'p Ident]) -> Vec<&'p Ident> {
    struct Finder<'i, 'p> {
        params: &'i [&'p Ident],
        found: Vec<&'p Ident>,
    }
    impl<'ast> Visit<'ast> for Finder<'_, '_> {
        fn visit_path(&mut self, path: &'ast Path) {
            if path.leading_colon.is_none() {
                if let Some(first) = path.segments.first() {
                    if let Some(p) = self.params.iter().find(|p| **p == &first.ident) {
                        self.found.push(p);
                    }
                }
            }
            visit::visit_path(self, path);
        }
    }
    let mut finder = Finder {
        params,
        found: Vec::new(),
    };
    finder.visit_type(ty);
    finder.found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctxt::Errors;
    use quote::ToTokens;

    #[test]
    fn bounds_by_role() {
        let input: syn::DeriveInput = parse_quote!(
            struct M<A, B, C, D: Clone>
            where
                D: Copy,
            {
                a: Vec<A>,
                #[nnx(static)]
                b: Option<B>,
                #[nnx(skip)]
                c: C,
                #[nnx(skip)]
                d: std::marker::PhantomData<D>,
                e: ::A,
            }
        );
        let mut cx = Errors::default();
        let cont = Container::from_ast(&input, &mut cx);
        let g = with_bounds(&cont, &parse_quote!(::nnx));
        let clause = g.where_clause.map(|w| w.to_token_stream().to_string());
        assert_eq!(
            clause.as_deref(),
            Some(
                "where D : Copy , Option < B > : :: nnx :: graph :: StaticHyperparameter , \
                 C : :: core :: default :: Default , \
                 std :: marker :: PhantomData < D > : :: core :: default :: Default , \
                 A : :: nnx :: graph :: Field , \
                 B : :: core :: marker :: Send + :: core :: marker :: Sync + 'static , \
                 C : :: core :: marker :: Send + :: core :: marker :: Sync + 'static , \
                 D : :: core :: marker :: Send + :: core :: marker :: Sync + 'static"
            )
        );
    }
}
