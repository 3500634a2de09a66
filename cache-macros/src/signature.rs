//! The parsed model of the function under an attribute: its receiver, named parameters and what
//! it returns.

use proc_macro2::Span;
use syn::visit::Visit;
use syn::{
    FnArg, GenericArgument, GenericParam, Ident, ItemFn, Lifetime, Pat, PathArguments, Receiver,
    ReturnType, Type,
};

use crate::errors::Errors;

/// A function under `#[cached]` or `#[invalidates]`.
pub(crate) struct Function {
    pub(crate) item: ItemFn,
    /// `&self`, when the function is a method.
    pub(crate) receiver: Option<Receiver>,
    /// Every parameter bound to a plain name, in order (others are reported by `analyze`).
    pub(crate) params: Vec<Param>,
    pub(crate) output: Output,
}

/// One parameter `name: Type`.
pub(crate) struct Param {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
}

/// What the function returns, split the way the cache stores it.
pub(crate) struct Output {
    /// The declared return type (`()` when there is none).
    pub(crate) ty: Type,
    pub(crate) kind: ReturnKind,
}

pub(crate) enum ReturnKind {
    /// `T`: every value is cached.
    Value,
    /// `Option<T>`: `Some` is cached, `None` only with `cache_none`.
    Option,
    /// `Result<T, E>`: `Ok` is cached, `Err` never. `err` is `None` for a one-argument alias such
    /// as `io::Result<T>`, whose error type is reached through `ResultParts`.
    Result {
        ok: Box<Type>,
        err: Option<Box<Type>>,
    },
}

impl Output {
    fn of(ret: &ReturnType) -> Output {
        let ty = match ret {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        let kind = match last_segment(&ty) {
            Some((name, args)) if name == "Result" && !args.is_empty() && args.len() <= 2 => {
                ReturnKind::Result {
                    ok: Box::new(args[0].clone()),
                    err: args.get(1).cloned().map(Box::new),
                }
            }
            Some((name, args)) if name == "Option" && args.len() == 1 => ReturnKind::Option,
            _ => ReturnKind::Value,
        };
        Output { ty, kind }
    }

    /// The type of the values the cache stores: `T` of `Result<T, E>`, else the return type.
    pub(crate) fn value(&self) -> &Type {
        match &self.kind {
            ReturnKind::Result { ok, .. } => ok,
            _ => &self.ty,
        }
    }

    /// Whether the stored value is an `Option` (so `None` is an empty result for `cache_none`).
    pub(crate) fn value_is_option(&self) -> bool {
        matches!(last_segment(self.value()), Some((name, args)) if name == "Option" && args.len() == 1)
    }

    pub(crate) fn is_result(&self) -> bool {
        matches!(self.kind, ReturnKind::Result { .. })
    }
}

/// The last path segment of `ty` and its type arguments, e.g. `("Result", [T, E])`.
fn last_segment(ty: &Type) -> Option<(String, Vec<Type>)> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    let args = match &last.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some((last.ident.to_string(), args))
}

/// Which macro is reading the function: they accept different shapes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    Cached,
    Invalidates,
}

impl Function {
    /// Reads `item` and reports, into `errors`, every shape the macro cannot handle.
    pub(crate) fn analyze(item: ItemFn, reader: Reader, errors: &mut Errors) -> Function {
        let sig = &item.sig;
        if reader == Reader::Cached {
            if let Some(t) = &sig.unsafety {
                errors.spanned(t, "#[cached] does not support `unsafe fn`: cache a safe function that wraps the unsafe call");
            }
            if let Some(abi) = &sig.abi {
                errors.spanned(abi, "#[cached] does not support an `extern` ABI: cache a Rust function that wraps it");
            }
            if let Some(v) = &sig.variadic {
                errors.spanned(v, "#[cached] does not support variadic functions");
            }
        }

        let mut receiver = None;
        let mut params = Vec::new();
        for (i, input) in sig.inputs.iter().enumerate() {
            match input {
                FnArg::Receiver(r) => {
                    if reader == Reader::Cached && !is_shared_self(r) {
                        errors.spanned(
                            r,
                            format!(
                                "#[cached] methods take `&self`, not `{}`: a hit returns without running the body, so the method must not consume or mutate `self`",
                                crate::errors::code(r)
                            ),
                        );
                    }
                    receiver = Some(r.clone());
                }
                FnArg::Typed(typed) => match &*typed.pat {
                    Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                        params.push(Param {
                            ident: p.ident.clone(),
                            ty: (*typed.ty).clone(),
                        })
                    }
                    pat if reader == Reader::Cached => {
                        let ty = &typed.ty;
                        let hint = match pat {
                            Pat::Wild(_) => format!(
                                "give it a name, e.g. `arg{i}: {}`, and leave it out of `key` if it should not be part of the key",
                                crate::errors::code(ty)
                            ),
                            Pat::Ident(_) => "bind it by value, without `ref` or `@`".to_owned(),
                            _ => format!(
                                "name it, e.g. `arg{i}: {}`, and destructure it inside the body",
                                crate::errors::code(ty)
                            ),
                        };
                        errors.spanned(
                            pat,
                            format!("#[cached] needs a plain name for each parameter, so that the key can refer to it: {hint}"),
                        );
                    }
                    // `#[invalidates]` only needs names for its templates; other patterns stay as written.
                    _ => {}
                },
            }
        }

        let output = Output::of(&sig.output);
        if reader == Reader::Cached {
            check_output(&item, &output, errors);
        }
        Function {
            item,
            receiver,
            params,
            output,
        }
    }

    pub(crate) fn ident(&self) -> &Ident {
        &self.item.sig.ident
    }

    /// An `async fn` (else a plain `fn`, whose callers block while another thread loads).
    pub(crate) fn is_async(&self) -> bool {
        self.item.sig.asyncness.is_some()
    }

    pub(crate) fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.ident == name)
    }

    /// Names of the type and const parameters, which the value type must not depend on.
    pub(crate) fn generic_names(&self) -> Vec<Ident> {
        self.item
            .sig
            .generics
            .params
            .iter()
            .filter_map(|g| match g {
                GenericParam::Type(t) => Some(t.ident.clone()),
                GenericParam::Const(c) => Some(c.ident.clone()),
                GenericParam::Lifetime(_) => None,
            })
            .collect()
    }
}

/// `&self` or `&'a self` (or `self: &Self`).
fn is_shared_self(r: &Receiver) -> bool {
    match &*r.ty {
        Type::Reference(re) => {
            re.mutability.is_none() && matches!(&*re.elem, Type::Path(p) if p.path.is_ident("Self"))
        }
        _ => false,
    }
}

/// The value type must be owned, nameable and not depend on a type parameter.
fn check_output(item: &ItemFn, output: &Output, errors: &mut Errors) {
    let value = output.value();
    let mut scan = TypeScan::default();
    scan.visit_type(value);
    if let Some(span) = scan.impl_trait {
        errors.at(
            span,
            "#[cached] stores the returned value, so its type must be nameable: return a concrete type instead of `impl Trait`",
        );
    }
    if let Some(span) = scan.borrow {
        errors.at(
            span,
            "a cached value is kept after the call returns, so it must own its data: return an owned type (e.g. `String` for `&str`, `Vec<T>` for `&[T]`, or an `Arc`)",
        );
    }
    let names: Vec<Ident> = item
        .sig
        .generics
        .params
        .iter()
        .filter_map(|g| match g {
            GenericParam::Type(t) => Some(t.ident.clone()),
            GenericParam::Const(c) => Some(c.ident.clone()),
            GenericParam::Lifetime(_) => None,
        })
        .collect();
    if let Some(ident) = mentions(value, &names) {
        errors.spanned(
            &ident,
            format!(
                "#[cached] cannot cache a value whose type depends on the generic parameter `{ident}`: one key would hold values of different types. Return a concrete type, or cache a non-generic function per type",
            ),
        );
    }
}

/// What a walk over a type found.
#[derive(Default)]
pub(crate) struct TypeScan {
    /// An `impl Trait`.
    pub(crate) impl_trait: Option<Span>,
    /// A reference or lifetime other than `'static`.
    pub(crate) borrow: Option<Span>,
    /// Every single-segment path ident (candidate type parameters).
    pub(crate) idents: Vec<Ident>,
}

impl<'ast> Visit<'ast> for TypeScan {
    fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
        self.impl_trait.get_or_insert(t.impl_token.span);
    }

    fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
        let is_static = r.lifetime.as_ref().is_some_and(|l| l.ident == "static");
        if !is_static {
            self.borrow.get_or_insert(r.and_token.span);
        }
        syn::visit::visit_type_reference(self, r);
    }

    fn visit_lifetime(&mut self, l: &'ast Lifetime) {
        if l.ident != "static" {
            self.borrow.get_or_insert(l.apostrophe);
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if let Some(first) = p.segments.first() {
            self.idents.push(first.ident.clone());
        }
        syn::visit::visit_path(self, p);
    }
}

/// The first of `names` that `ty` mentions, with the span of the mention.
pub(crate) fn mentions(ty: &Type, names: &[Ident]) -> Option<Ident> {
    let mut scan = TypeScan::default();
    scan.visit_type(ty);
    scan.idents.into_iter().find(|i| names.contains(i))
}

/// Where `ty` borrows (a reference or a lifetime other than `'static`), if it does.
pub(crate) fn borrows(ty: &Type) -> Option<Span> {
    let mut scan = TypeScan::default();
    scan.visit_type(ty);
    scan.borrow
}
