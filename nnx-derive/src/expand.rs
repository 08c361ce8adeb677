//! Code generation, from the IR only.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_quote, DeriveInput, Generics, Path};

use crate::ast::{walked, Container, Data, Field, FieldKind, Key};
use crate::ctxt::Errors;
use crate::{bound, check};

/// `#[derive(Module)]`: the impls, or the errors plus stub impls.
pub fn derive(input: &DeriveInput) -> TokenStream {
    let mut cx = Errors::default();
    let cont = Container::from_ast(input, &mut cx);
    check::check(&cont, &mut cx);
    let krate = cont.attrs.krate.clone().unwrap_or_else(default_crate);
    let generics = bound::with_bounds(&cont, &krate);
    match cx.finish() {
        Ok(()) => impls(&cont, &krate, &generics),
        Err(e) => {
            let errors = e.to_compile_error();
            let stub = stub(&cont, &krate, &generics);
            quote!(#errors #stub)
        }
    }
}

/// `::nnx` if the user's crate depends on `nnx`, else `::nnx_core` if it depends on
/// `nnx-core` (both crates name themselves with `extern crate self`), else `::nnx`.
fn default_crate() -> Path {
    use proc_macro_crate::{crate_name, FoundCrate};
    let name = match crate_name("nnx") {
        Ok(FoundCrate::Name(n)) => n,
        Ok(FoundCrate::Itself) => "nnx".to_string(),
        Err(_) => match crate_name("nnx-core") {
            Ok(FoundCrate::Name(n)) => n,
            Ok(FoundCrate::Itself) => "nnx_core".to_string(),
            Err(_) => "nnx".to_string(),
        },
    };
    let ident = Ident::new(&name, Span::call_site());
    parse_quote!(::#ident)
}

fn impls(cont: &Container<'_>, krate: &Path, generics: &Generics) -> TokenStream {
    let ident = cont.ident;
    let (impl_g, ty_g, where_c) = generics.split_for_impl();
    let (walk, walk_mut, build) = match &cont.data {
        Data::Struct(type_name, fields) => struct_bodies(type_name, fields, krate),
        Data::Enum(variants) => enum_bodies(cont, variants, krate),
        Data::Union(_) => return stub(cont, krate, generics),
    };
    let sow = sow_impl(cont, krate, generics);
    quote! {
        #[automatically_derived]
        impl #impl_g #krate::graph::Field for #ident #ty_g #where_c {
            fn walk_field(&self, key: &#krate::Key, w: &mut dyn #krate::graph::Walker) {
                #walk
            }
            fn walk_field_mut(
                &mut self,
                key: &#krate::Key,
                w: &mut dyn #krate::graph::WalkerMut,
                _place: #krate::graph::Place,
            ) -> #krate::graph::Action {
                #walk_mut
            }
            fn build_field(
                key: &#krate::Key,
                b: &mut #krate::graph::Builder<'_>,
            ) -> #krate::Result<Self> {
                #build
            }
        }
        #[automatically_derived]
        impl #impl_g #krate::Module for #ident #ty_g #where_c {}
        #sow
    }
}

/// The local a field is bound to.
fn var(i: usize) -> Ident {
    format_ident!("__nnx_field_{}", i)
}

fn key_expr(key: &Key, krate: &Path) -> TokenStream {
    match key {
        Key::Int(i) => {
            let i = Literal::usize_unsuffixed(*i);
            quote!(#krate::Key::Int(#i))
        }
        Key::Str(s) => quote!(#krate::Key::Str(::std::borrow::Cow::Borrowed(#s))),
    }
}

/// One walk statement per walked field, in key order; `access(i, field)` is the
/// expression for a reference to the field.
fn walk_stmts(
    fields: &[Field<'_>],
    krate: &Path,
    mutable: bool,
    access: impl Fn(usize, &Field<'_>) -> TokenStream,
) -> TokenStream {
    walked(fields)
        .into_iter()
        .map(|(i, f)| {
            let (ty, key, at) = (f.ty, key_expr(&f.key, krate), access(i, f));
            let span = ty.span();
            let call = match (f.kind, mutable) {
                (FieldKind::Static, false) => {
                    quote_spanned!(span=> <#ty as #krate::__private::StaticWalk>::walk)
                }
                (FieldKind::Static, true) => {
                    quote_spanned!(span=> <#ty as #krate::__private::StaticWalk>::walk_mut)
                }
                (_, false) => quote_spanned!(span=> <#ty as #krate::graph::Field>::walk_field),
                (_, true) => quote_spanned!(span=> <#ty as #krate::graph::Field>::walk_field_mut),
            };
            if mutable && f.kind != FieldKind::Static {
                quote!(#call(#at, &#key, w, #krate::graph::Place::Fixed);)
            } else {
                quote!(#call(#at, &#key, w);)
            }
        })
        .collect()
}

/// `let` statements building every field (walked ones in key order), then the
/// constructor `path { member: var, .. }`.
fn build_stmts(fields: &[Field<'_>], krate: &Path, path: TokenStream) -> TokenStream {
    let walked = walked(fields).into_iter().map(|(i, f)| {
        let (v, ty, key) = (var(i), f.ty, key_expr(&f.key, krate));
        let call = match f.kind {
            FieldKind::Static => {
                quote_spanned!(ty.span()=> <#ty as #krate::__private::StaticWalk>::build)
            }
            _ => quote_spanned!(ty.span()=> <#ty as #krate::graph::Field>::build_field),
        };
        quote!(let #v = #call(&#key, b)?;)
    });
    let skipped = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind == FieldKind::Skip)
        .map(|(i, f)| {
            let (v, ty) = (var(i), f.ty);
            let call = quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default);
            quote!(let #v = #call();)
        });
    let inits = fields.iter().enumerate().map(|(i, f)| {
        let (m, v) = (&f.member, var(i));
        quote!(#m: #v)
    });
    quote! {
        #(#walked)*
        #(#skipped)*
        #path { #(#inits),* }
    }
}

fn struct_bodies(
    type_name: &str,
    fields: &[Field<'_>],
    krate: &Path,
) -> (TokenStream, TokenStream, TokenStream) {
    let header = quote!(#krate::graph::NodeHeader::node(#type_name));
    let walk = walk_stmts(fields, krate, false, |_, f| {
        let m = &f.member;
        quote!(&self.#m)
    });
    let walk_mut = walk_stmts(fields, krate, true, |_, f| {
        let m = &f.member;
        quote!(&mut self.#m)
    });
    let build = build_stmts(fields, krate, quote!(Self));
    (
        quote! {
            if w.enter_at(key, #header, #krate::graph::NodeAddress::of(self)) { #walk w.leave(); }
        },
        quote! {
            if w.enter(key, #header) { #walk_mut w.leave(); }
            #krate::graph::Action::Keep
        },
        quote! {
            b.enter(key)?;
            let value = { #build };
            b.leave()?;
            ::core::result::Result::Ok(value)
        },
    )
}

fn enum_bodies(
    cont: &Container<'_>,
    variants: &[crate::ast::Variant<'_>],
    krate: &Path,
) -> (TokenStream, TokenStream, TokenStream) {
    let mut walk = Vec::new();
    let mut walk_mut = Vec::new();
    let mut build = Vec::new();
    for v in variants {
        let (ident, name) = (v.ident, &v.type_name);
        if v.transparent {
            // The variant's node records which variant to rebuild and adds no path
            // component; its value is walked under the enum's own key.
            let header = quote!(#krate::graph::NodeHeader { type_name: #name, transparent: true });
            let ty = v.fields[0].ty;
            let field = quote_spanned!(ty.span()=> <#ty as #krate::graph::Field>);
            walk.push(quote! {
                Self::#ident(ref inner) => if w.enter(key, #header) {
                    #field::walk_field(inner, key, w);
                    w.leave();
                }
            });
            walk_mut.push(quote! {
                Self::#ident(ref mut inner) => if w.enter(key, #header) {
                    #field::walk_field_mut(inner, key, w, #krate::graph::Place::Fixed);
                    w.leave();
                }
            });
            build.push(quote!(#name => Self::#ident(#field::build_field(key, b)?),));
            continue;
        }
        let header = quote!(#krate::graph::NodeHeader::node(#name));
        let pat = |by: TokenStream| {
            let binds = v
                .fields
                .iter()
                .enumerate()
                .filter(|(_, f)| f.kind != FieldKind::Skip)
                .map(|(i, f)| {
                    let (m, b) = (&f.member, var(i));
                    quote!(#m: #by #b)
                });
            quote!(Self::#ident { #(#binds,)* .. })
        };
        let access = |i: usize, _: &Field<'_>| {
            let v = var(i);
            quote!(#v)
        };
        let (p, body) = (
            pat(quote!(ref)),
            walk_stmts(&v.fields, krate, false, access),
        );
        walk.push(quote! {
            #p => if w.enter_at(key, #header, #krate::graph::NodeAddress::of(self)) { #body w.leave(); }
        });
        let (p, body) = (
            pat(quote!(ref mut)),
            walk_stmts(&v.fields, krate, true, access),
        );
        walk_mut.push(quote!(#p => if w.enter(key, #header) { #body w.leave(); }));
        let body = build_stmts(&v.fields, krate, quote!(Self::#ident));
        build.push(quote!(#name => { #body }));
    }
    let expected = variants
        .iter()
        .map(|v| v.type_name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let expected = format!("a variant of {} ({expected})", cont.ident);
    let error = quote! {
        ::core::result::Result::Err(#krate::Error::invalid_argument(
            ::std::format!("enum node {}", b.path_string_with(key)),
            #expected,
            header.type_name,
        ))
    };
    if variants.is_empty() {
        return (
            quote!(match *self {}),
            quote!(match *self {}),
            quote! {
                let header = b.enter(key)?;
                #error
            },
        );
    }
    // `*self` with `ref` bindings: one pattern form for every variant shape.
    (
        quote!(match *self { #(#walk)* }),
        quote! { match *self { #(#walk_mut)* } #krate::graph::Action::Keep },
        quote! {
            let header = b.enter(key)?;
            let value = match header.type_name {
                #(#build)*
                _ => return #error,
            };
            b.leave()?;
            ::core::result::Result::Ok(value)
        },
    )
}

fn sow_impl(cont: &Container<'_>, krate: &Path, generics: &Generics) -> TokenStream {
    let Data::Struct(_, fields) = &cont.data else {
        return TokenStream::new();
    };
    let Some(store) = fields.iter().find(|f| f.kind == FieldKind::Sow) else {
        return TokenStream::new();
    };
    let ident = cont.ident;
    let (impl_g, ty_g, where_c) = generics.split_for_impl();
    let (m, ty) = (&store.member, store.ty);
    let call = quote_spanned!(ty.span()=> <#ty as #krate::__private::SowField>::store);
    let names = fields.iter().filter_map(|f| match &f.key {
        Key::Str(s) => Some(s),
        Key::Int(_) => None,
    });
    quote! {
        #[automatically_derived]
        impl #impl_g #krate::sow::SowStore for #ident #ty_g #where_c {
            fn sown(&mut self) -> &mut #krate::sow::Sown {
                #call(&mut self.#m)
            }
            fn field_names() -> &'static [&'static str] {
                &[#(#names),*]
            }
        }
    }
}

/// Impls with no behaviour, so that a derive with errors reports only those errors.
fn stub(cont: &Container<'_>, krate: &Path, generics: &Generics) -> TokenStream {
    let ident = cont.ident;
    let (impl_g, ty_g, where_c) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_g #krate::graph::Field for #ident #ty_g #where_c {
            fn walk_field(&self, _key: &#krate::Key, _w: &mut dyn #krate::graph::Walker) {}
            fn walk_field_mut(
                &mut self,
                _key: &#krate::Key,
                _w: &mut dyn #krate::graph::WalkerMut,
                _place: #krate::graph::Place,
            ) -> #krate::graph::Action {
                #krate::graph::Action::Keep
            }
            fn build_field(
                _key: &#krate::Key,
                _b: &mut #krate::graph::Builder<'_>,
            ) -> #krate::Result<Self> {
                ::core::result::Result::Err(#krate::Error::invalid_argument(
                    "#[derive(Module)]",
                    "a derive without errors",
                    "a derive that failed to compile",
                ))
            }
        }
        #[automatically_derived]
        impl #impl_g #krate::Module for #ident #ty_g #where_c {}
    }
}
