//! The derive's intermediate representation: what codegen reads.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data as SynData, DeriveInput, Fields, Generics, Ident, Index, Member, Type};

use crate::attr::{self, ContainerAttrs, FieldAttrs, VariantAttrs};
use crate::ctxt::Errors;

/// A `#[derive(Module)]` input.
pub struct Container<'a> {
    /// The type's name.
    pub ident: &'a Ident,
    /// The type's generics, as written.
    pub generics: &'a Generics,
    /// Fields or variants.
    pub data: Data<'a>,
    /// Container-level options.
    pub attrs: ContainerAttrs,
}

/// The body of the input.
pub enum Data<'a> {
    /// A struct: its node's type name and fields.
    Struct(String, Vec<Field<'a>>),
    /// An enum's variants.
    Enum(Vec<Variant<'a>>),
    /// A union (rejected by `check`); the span of the `union` keyword.
    Union(Span),
}

/// An enum variant.
pub struct Variant<'a> {
    /// The variant's name.
    pub ident: &'a Ident,
    /// Its node's type name: `"Enum::Variant"`.
    pub type_name: String,
    /// Its fields.
    pub fields: Vec<Field<'a>>,
    /// Its own options.
    pub attrs: VariantAttrs,
    /// Whether it is transparent (by its own attribute or the enum's).
    pub transparent: bool,
    /// Where to report problems with the variant as a whole.
    pub span: Span,
}

/// A field and how it takes part in the graph.
pub struct Field<'a> {
    /// `self.<member>`.
    pub member: Member,
    /// Its key in the graph.
    pub key: Key,
    /// Its type.
    pub ty: &'a Type,
    /// Its role.
    pub kind: FieldKind,
    /// The parsed options (kept for validation).
    pub attrs: FieldAttrs,
    /// Where to report problems with the field as a whole.
    pub span: Span,
}

/// A field's role.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldKind {
    /// Walked through its `Field` impl.
    Node,
    /// `#[nnx(static)]`: a hyperparameter in the GraphDef.
    Static,
    /// `#[nnx(skip)]`: left out, rebuilt with `Default`.
    Skip,
    /// `#[nnx(sow)]`: the sow store, walked like a node.
    Sow,
}

/// A graph key; the derived order (integers first) matches `nnx_core::Key`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Key {
    /// A tuple field's index.
    Int(usize),
    /// A named field's name (or its `rename`).
    Str(String),
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Int(i) => write!(f, "{i}"),
            Key::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl<'a> Container<'a> {
    /// Builds the IR, recording attribute errors in `cx`.
    pub fn from_ast(input: &'a DeriveInput, cx: &mut Errors) -> Self {
        let attrs = attr::parse_container(&input.attrs, cx);
        let data = match &input.data {
            SynData::Struct(s) => Data::Struct(input.ident.to_string(), fields(&s.fields, cx)),
            SynData::Enum(e) => Data::Enum(
                e.variants
                    .iter()
                    .map(|v| {
                        let vattrs = attr::parse_variant(&v.attrs, cx);
                        Variant {
                            ident: &v.ident,
                            type_name: format!("{}::{}", input.ident, v.ident),
                            fields: fields(&v.fields, cx),
                            transparent: vattrs.transparent.is_some()
                                || attrs.transparent.is_some(),
                            attrs: vattrs,
                            span: v.ident.span(),
                        }
                    })
                    .collect(),
            ),
            SynData::Union(u) => Data::Union(u.union_token.span),
        };
        Container {
            ident: &input.ident,
            generics: &input.generics,
            data,
            attrs,
        }
    }

    /// Every field, of every variant.
    pub fn all_fields(&self) -> Vec<&Field<'a>> {
        match &self.data {
            Data::Struct(_, fields) => fields.iter().collect(),
            Data::Enum(variants) => variants.iter().flat_map(|v| &v.fields).collect(),
            Data::Union(_) => Vec::new(),
        }
    }
}

fn fields<'a>(fields: &'a Fields, cx: &mut Errors) -> Vec<Field<'a>> {
    fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let attrs = attr::parse_field(&f.attrs, cx);
            let (member, key) = match &f.ident {
                Some(ident) => {
                    let name = match &attrs.rename {
                        Some((name, _)) => name.clone(),
                        None => ident.unraw().to_string(),
                    };
                    (Member::Named(ident.clone()), Key::Str(name))
                }
                None => (
                    Member::Unnamed(Index {
                        index: i as u32,
                        span: f.ty.span(),
                    }),
                    Key::Int(i),
                ),
            };
            let kind = if attrs.sow.is_some() {
                FieldKind::Sow
            } else if attrs.is_static.is_some() {
                FieldKind::Static
            } else if attrs.skip.is_some() {
                FieldKind::Skip
            } else {
                FieldKind::Node
            };
            Field {
                member,
                key,
                ty: &f.ty,
                kind,
                attrs,
                span: f.ident.as_ref().map_or_else(|| f.ty.span(), |i| i.span()),
            }
        })
        .collect()
}

/// The fields in graph order, with their declaration index: sorted by key, skipped
/// fields left out.
pub fn walked<'f, 'a>(fields: &'f [Field<'a>]) -> Vec<(usize, &'f Field<'a>)> {
    let mut out: Vec<_> = fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind != FieldKind::Skip)
        .collect();
    out.sort_by(|a, b| a.1.key.cmp(&b.1.key));
    out
}
