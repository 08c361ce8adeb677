//! `variable_type!`: the one macro that declares every Variable type, Flax's built-in
//! ones and yours.

/// Declares a Variable type: `variable_type!(pub CustomVariable);`.
///
/// Forms (attributes and doc comments may precede the visibility):
///
/// ```text
/// variable_type!(pub Name);                                  // parent: Variable
/// variable_type!(pub Name: Parent);                          // a subtype (LoRAParam: Param)
/// variable_type!(pub Name: Parent, collection = "name");     // with a Linen collection name
/// variable_type!(pub Name, behavior = custom);               // you implement VariableBehavior
/// ```
///
/// It defines the generic struct `Name<T>` (a typed Variable holding a `T`) and, in the
/// value namespace, the constant `Name` of type [`Kind`](crate::Kind), so that `Name`
/// is also a filter: `model.state_of(Name)`.
///
/// ```
/// use nnx_core::prelude::*;
/// nnx_core::variable_type!(pub LoRAParam: nnx_core::Param);
///
/// let v = LoRAParam::new(ndarray::Array1::<f32>::ones(2));
/// assert_eq!(v.kind(), LoRAParam);
/// assert!(LoRAParam.is_subtype_of(nnx_core::Param));
/// assert_eq!(v.to_string(), "LoRAParam( # 2 (8 B)\n  value=Array([1., 1.], dtype=float32)\n)");
/// ```
#[macro_export]
macro_rules! variable_type {
    (
        $(#[$attr:meta])* $vis:vis $name:ident $(: $parent:path)?
        $(, collection = $coll:literal)? $(,)?
    ) => {
        $crate::variable_type!(@define [$(#[$attr])*] $vis $name [$($parent)?] [$($coll)?]);
        #[automatically_derived]
        impl<T: $crate::value::Value + ::core::clone::Clone> $crate::VariableBehavior for $name<T> {}
    };
    (
        $(#[$attr:meta])* $vis:vis $name:ident $(: $parent:path)?
        $(, collection = $coll:literal)?, behavior = custom $(,)?
    ) => {
        $crate::variable_type!(@define [$(#[$attr])*] $vis $name [$($parent)?] [$($coll)?]);
    };
    (@parent []) => { $crate::Variable };
    (@parent [$parent:path]) => { $parent };
    (@collection []) => { ::core::option::Option::None };
    (@collection [$coll:literal]) => { ::core::option::Option::Some($coll) };
    (@define [$(#[$attr:meta])*] $vis:vis $name:ident [$($parent:path)?] [$($coll:literal)?]) => {
        $(#[$attr])*
        #[doc = concat!("The `", stringify!($name), "` Variable type: a value of type `T` with metadata.")]
        // A type may be used only through its kind (as a filter), never constructed.
        #[allow(dead_code)]
        $vis struct $name<T> {
            var: $crate::Variable<T>,
        }

        #[allow(non_upper_case_globals)]
        #[doc = concat!("The kind of [`struct@", stringify!($name), "`]: also a filter matching it and its subtypes.")]
        $vis const $name: $crate::Kind = {
            static INFO: $crate::KindInfo = $crate::KindInfo::new(
                stringify!($name),
                ::core::option::Option::Some($crate::variable_type!(@parent [$($parent)?]).info()),
                $crate::variable_type!(@collection [$($coll)?]),
            );
            $crate::Kind::from_static(&INFO)
        };

        #[allow(dead_code)]
        impl<T: $crate::value::Value + ::core::clone::Clone> $name<T> {
            #[doc = concat!("A `", stringify!($name), "` holding `value` (create hooks and behaviour fire).")]
            #[doc = ""]
            #[doc = "The `variable_type!` macro of nnx-core shows an example (generated docs live in the calling crate, so they hold none)."]
            pub fn new(value: T) -> Self
            where
                Self: $crate::VariableBehavior + $crate::VariableType<Value = T>,
            {
                $crate::__private::create_typed(value)
            }

            #[doc = concat!("A `", stringify!($name), "` from a raw value with hooks and metadata.")]
            #[doc = ""]
            #[doc = "`VariableMetadata` in nnx-core shows an example."]
            pub fn from_metadata(meta: $crate::VariableMetadata<T>) -> Self
            where
                Self: $crate::VariableBehavior + $crate::VariableType<Value = T>,
            {
                $crate::__private::create_typed_from_metadata(meta)
            }
        }

        #[automatically_derived]
        impl<T: $crate::value::Value + ::core::clone::Clone> $crate::VariableType for $name<T> {
            type Value = T;
            const KIND: $crate::Kind = $name;

            fn from_variable(var: $crate::Variable<T>) -> Self {
                $name { var }
            }
            fn as_variable(&self) -> &$crate::Variable<T> {
                &self.var
            }
            fn as_variable_mut(&mut self) -> &mut $crate::Variable<T> {
                &mut self.var
            }
            fn into_variable(self) -> $crate::Variable<T> {
                self.var
            }
        }

        #[automatically_derived]
        impl<T> ::core::clone::Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { var: ::core::clone::Clone::clone(&self.var) }
            }
        }

        #[automatically_derived]
        impl<T> ::core::ops::Deref for $name<T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.var
            }
        }

        #[automatically_derived]
        impl<T: ::core::clone::Clone> ::core::ops::DerefMut for $name<T> {
            fn deref_mut(&mut self) -> &mut T {
                &mut self.var
            }
        }

        #[automatically_derived]
        impl<T: $crate::value::Value> ::core::fmt::Display for $name<T> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&self.var, f)
            }
        }

        #[automatically_derived]
        impl<T: $crate::value::Value> ::core::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&self.var, f)
            }
        }

        $crate::__private::variable_graph_impls!($name);
    };
}
