//! Code generation. Everything generated names the runtime through `::layercache::__private`.
//!
//! `#[cached]` turns `async fn get_product(id: u64) -> R { body }` into three items:
//! - `get_product`, same signature: renders the key, then one `Cache::load` call with an options
//!   constant, a plan (`expand/plan.rs`: tags and the refresh-ahead reloader, as closures the
//!   runtime calls only when it stores a value or a refresh is due) and the body as the loader;
//! - `__layercache_key_get_product(id: &u64) -> (Cache, CacheKey)`: the key builder, shared with
//!   `#[invalidates(get_product(id))]` so reader and writer cannot disagree on a key (or a cache);
//! - `__layercache_load_get_product(id: u64) -> R { body }`: the body, unchanged, callable again
//!   by refresh-ahead and when `condition` is false.
//!
//! `#[invalidates]` (in `expand/invalidates.rs`) keeps its function in one piece: it builds the
//! keys and tags first (the body may consume the arguments), runs the body, then invalidates (for
//! `Result`, only on `Ok`).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, FnArg, Ident, ItemFn, Pat, Type};

use crate::args::{CachedArgs, DurationArg};
use crate::errors::Errors;
use crate::signature::{Function, Reader, ReturnKind};
use crate::template::Template;
use crate::validate;

mod cached_impl;
mod invalidates;
mod key;
mod plan;
pub(crate) use cached_impl::cached_impl;
pub(crate) use invalidates::{invalidates, invalidates_fn};
pub(crate) use key::key;

/// Expands `#[cached(attr)]` on `item`. On any mistake, returns the errors and the item as written
/// (so that its callers do not fail too).
pub(crate) fn cached(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(_) => return not_a_fn("#[cached]", item),
    };
    let mut errors = Errors::default();
    let args = CachedArgs::parse(attr, &mut errors);
    let Expansion { in_place, helpers } = cached_fn(item_fn, args, Place::Alone, errors);
    quote!(#in_place #helpers)
}

/// Where a `#[cached]` function sits, as far as the macros can know: a lone attribute cannot see
/// the `impl` around it, `#[cached_impl]` can.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// A free function, or a method under a lone `#[cached]`.
    Alone,
    /// Inside an `impl` under `#[cached_impl]`: helpers are called through `Self::`.
    InImpl,
}

/// An expanded `#[cached]` function: what replaces it, and the helpers to put next to it (in a
/// trait impl, `#[cached_impl]` moves them to an inherent impl).
pub(crate) struct Expansion {
    pub(crate) in_place: TokenStream,
    pub(crate) helpers: TokenStream,
}

/// Expands one `#[cached]` function whose arguments are parsed (`errors` holds their mistakes).
pub(crate) fn cached_fn(
    item_fn: ItemFn,
    args: CachedArgs,
    place: Place,
    mut errors: Errors,
) -> Expansion {
    let f = Function::analyze(item_fn, Reader::Cached, &mut errors);
    validate::cached(&f, &args, &mut errors);
    match errors.finish() {
        Ok(()) => Cached {
            f: &f,
            args: &args,
            place,
        }
        .expand(),
        Err(e) => Expansion {
            in_place: with_errors(&f.item, e),
            helpers: TokenStream::new(),
        },
    }
}

fn not_a_fn(attr: &str, item: TokenStream) -> TokenStream {
    let e = syn::Error::new(
        Span::call_site(),
        format!("{attr} goes on a function (`fn` or `async fn`, free or a method; for methods of a trait impl, also put #[cached_impl] on the impl block)"),
    )
    .to_compile_error();
    quote!(#e #item)
}

fn with_errors(item: &ItemFn, e: syn::Error) -> TokenStream {
    let e = e.to_compile_error();
    quote!(#e #item)
}

/// A local of the generated code: invisible to the user's expressions (mixed-site hygiene).
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

fn key_fn_name(ident: &Ident) -> Ident {
    format_ident!("__layercache_key_{}", ident.unraw(), span = ident.span())
}

fn render_key_fn_name(ident: &Ident) -> Ident {
    format_ident!("__layercache_render_key_{}", ident.unraw())
}

fn load_fn_name(ident: &Ident) -> Ident {
    format_ident!("__layercache_load_{}", ident.unraw(), span = ident.span())
}

/// Attributes that must follow the code into the generated helpers.
fn is_cfg(a: &Attribute) -> bool {
    a.path().is_ident("cfg") || a.path().is_ident("cfg_attr")
}

fn is_lint(a: &Attribute) -> bool {
    ["allow", "warn", "deny", "forbid", "expect"]
        .iter()
        .any(|l| a.path().is_ident(l))
}

/// A duration argument as a `Duration` expression: the literal's value as a constant, or the
/// expression as written, checked to be a `Duration` (a wrong type is reported at it).
fn duration_tokens(d: &DurationArg) -> TokenStream {
    let span = d.written.span();
    let Some(v) = d.value else {
        let expr = &d.written;
        return quote_spanned!(span=> ::layercache::__private::duration(#expr));
    };
    let (ctor, n) = if v.subsec_nanos() == 0 {
        ("from_secs", v.as_secs() as u128)
    } else if v.subsec_nanos() % 1_000_000 == 0 {
        ("from_millis", v.as_millis())
    } else {
        ("from_nanos", v.as_nanos())
    };
    let ctor = Ident::new(ctor, span);
    let n = proc_macro2::Literal::u64_unsuffixed(u64::try_from(n).unwrap_or(u64::MAX));
    quote_spanned!(span=> ::layercache::__private::Duration::#ctor(#n))
}

struct Cached<'a> {
    f: &'a Function,
    args: &'a CachedArgs,
    place: Place,
}

impl Cached<'_> {
    fn expand(&self) -> Expansion {
        let key_fn = self.key_fn();
        let load_fn = self.load_fn();
        Expansion {
            in_place: self.wrapper(),
            helpers: quote!(#key_fn #load_fn),
        }
    }

    /// A helper's path: `Self::helper` for an associated function under `#[cached_impl]`.
    fn helper_path(&self, helper: &Ident) -> TokenStream {
        match self.place {
            Place::InImpl => quote!(Self::#helper),
            Place::Alone => quote!(#helper),
        }
    }

    fn is_method(&self) -> bool {
        self.f.receiver.is_some()
    }

    /// `::<T, N>` when the function has type or const parameters, so calls of the helpers never
    /// depend on inference.
    fn turbofish(&self) -> TokenStream {
        let names = self.f.generic_names();
        if names.is_empty() {
            TokenStream::new()
        } else {
            quote!(::<#(#names),*>)
        }
    }

    /// Calls a helper generated next to the function: `helper(args)` or `self.helper(args)`.
    fn call(&self, helper: &Ident, args: &[TokenStream]) -> TokenStream {
        let turbofish = self.turbofish();
        if self.is_method() {
            quote!(self.#helper #turbofish(#(#args),*))
        } else {
            let path = self.helper_path(helper);
            quote!(#path #turbofish(#(#args),*))
        }
    }

    /// The key builder's call: each parameter by reference, without copying it.
    fn key_call(&self) -> TokenStream {
        self.call(&key_fn_name(self.f.ident()), &self.key_args())
    }

    /// The key renderer's call: as [`key_call`](Self::key_call), writing into the local `key`.
    fn render_key_call(&self) -> TokenStream {
        let key = local("key");
        let mut args = self.key_args();
        args.push(quote!(&mut #key));
        self.call(&render_key_fn_name(self.f.ident()), &args)
    }

    /// Each parameter by reference, for the key builder and renderer.
    fn key_args(&self) -> Vec<TokenStream> {
        self.f
            .params
            .iter()
            .map(|p| {
                let ident = &p.ident;
                match &p.ty {
                    Type::Reference(r) if r.mutability.is_none() => quote!(#ident),
                    Type::Reference(_) => quote!(&*#ident),
                    _ => quote!(&#ident),
                }
            })
            .collect()
    }

    /// The body's call: every parameter moved in, as the caller passed it; in the loader, copies
    /// of those the plan still reads (see `Cached::loader_arg`).
    fn load_call(&self, in_loader: bool) -> TokenStream {
        let args: Vec<TokenStream> = self
            .f
            .params
            .iter()
            .map(|p| {
                if in_loader {
                    self.loader_arg(p)
                } else {
                    p.ident.to_token_stream()
                }
            })
            .collect();
        self.call(&load_fn_name(self.f.ident()), &args)
    }

    /// `V` (the stored value) and `E` (the loader's error).
    fn value_and_error(&self) -> (TokenStream, TokenStream) {
        let out = &self.f.output;
        let value = out.value().to_token_stream();
        let error = match &out.kind {
            ReturnKind::Result { err: Some(e), .. } => e.to_token_stream(),
            ReturnKind::Result { err: None, .. } => {
                let ty = &out.ty;
                quote!(<#ty as ::layercache::__private::ResultParts>::Err)
            }
            _ => quote!(::layercache::__private::Infallible),
        };
        (value, error)
    }

    fn options_const(&self) -> TokenStream {
        let a = self.args;
        let durations = a.durations().filter(|d| d.value.is_some()).map(|d| {
            let name = &d.name;
            let value = duration_tokens(d);
            quote!(.#name(#value))
        });
        let lock = a.lock.as_ref().map(|l| quote!(.#l(true)));
        let compress = a.compress.as_ref().map(|c| quote!(.#c(true)));
        let version = a.version.as_ref().map(|v| quote!(.version(#v)));
        let codec = a.codec.as_ref().map(|c| {
            let variant = Ident::new(c.variant, c.lit.span());
            quote!(.codec(::layercache::__private::Codec::#variant))
        });
        // The function's path labels its metrics and its log span.
        let name = self.f.ident().to_string();
        let function = quote!(.function(::core::concat!(::core::module_path!(), "::", #name)));
        quote! {
            static OPTIONS: ::layercache::__private::EntryOptions =
                ::layercache::__private::EntryOptions::new() #function #(#durations)* #lock #codec #compress #version;
        }
    }

    fn wrapper(&self) -> TokenStream {
        let f = self.f;
        let item = &f.item;
        let attrs = &item.attrs;
        let vis = &item.vis;
        let mut sig = item.sig.clone();
        // `mut` on a parameter matters to the body only, which keeps it.
        for input in &mut sig.inputs {
            if let FnArg::Typed(t) = input {
                if let Pat::Ident(p) = &mut *t.pat {
                    p.mutability = None;
                }
            }
        }
        let (cache, key) = (local("cache"), local("key"));
        let options_const = self.options_const();
        let is_async = self.f.is_async();
        let condition = self.args.condition.as_ref().map(|c| {
            let body = self.load_call(false);
            let body_call = if is_async {
                quote!(::layercache::__private::boxed(#body).await)
            } else {
                body
            };
            quote! {
                if !(#c) {
                    return #body_call;
                }
            }
        });
        let key_call = self.key_call();
        let render_key_call = self.render_key_call();
        let plan::Plan {
            statements: plan,
            options,
        } = self.plan();

        // `__private::load` checks that the value can be cached. Its path and the plan (whose type
        // names the value) carry the value type's span, so that is where a failure is reported.
        let ret_span = self.f.output.value().span();
        let load = if is_async {
            quote_spanned!(ret_span=> ::layercache::__private::load)
        } else {
            quote_spanned!(ret_span=> ::layercache::__private::load_blocking)
        };
        let infallible = if is_async {
            quote!(::layercache::__private::infallible)
        } else {
            quote!(::layercache::__private::infallible_now)
        };
        let plan_v = Ident::new("plan", Span::mixed_site().located_at(ret_span));
        let body = self.load_call(true);
        // A fresh L1 hit returns here, before the load future (and the plan) are built; a miss
        // hands what L1 had on to the load, so L1 is looked up once.
        let hit = local("hit");
        let miss = local("miss");
        // A plain `fn` hands the key to `load_blocking`, which looks L1 up itself.
        let key_or_miss = &key;
        let loader = if self.f.output.is_result() {
            quote!(|| #body)
        } else {
            quote!(|| #infallible(#body))
        };
        let finish = |result: TokenStream| {
            if self.f.output.is_result() {
                result
            } else {
                quote!(::layercache::__private::unwrap_infallible(#result))
            }
        };
        let call = finish(quote!(#load(&#cache, #key_or_miss, #options, #plan_v, #loader)));
        let mode = local("mode");
        let load_result = finish(quote! {
            ::layercache::__private::boxed(async {
                #plan
                let #plan_v = ::layercache::__private::with_mode(#plan_v, &#mode);
                #load(&#cache, #miss, #options, #plan_v, #loader).await
            })
            .await
        });
        let (value_ty, _) = self.value_and_error();
        let hit_fn = quote_spanned!(ret_span=> ::layercache::__private::hit::<#value_ty>);
        let hit_value = if self.f.output.is_result() {
            quote!(::core::result::Result::Ok(#hit))
        } else {
            quote!(#hit)
        };
        // `layercache::refresh` / `bypass`: this call takes the mode, so its body's calls run
        // normally; the guard gives it back when the call ends.
        let bypass_body = self.load_call(false);
        if !is_async {
            // A plain `fn` has no task for `refresh` / `bypass` to mark.
            let block = quote! {{
                #options_const
                #condition
                let (#cache, #key) = #key_call;
                #plan
                #call
            }};
            return quote!(#(#attrs)* #vis #sig #block);
        }
        let block = quote! {{
            #options_const
            #condition
            let #mode = ::layercache::__private::take_mode();
            if ::layercache::__private::bypassed(&#mode) {
                let span = ::layercache::__private::bypass_span(&OPTIONS, || #key_call);
                return ::layercache::__private::in_span(
                    ::layercache::__private::boxed(#bypass_body),
                    span,
                )
                .await;
            }
            // The key is rendered on the stack, in a block of its own: it is gone before the
            // first await, so the future does not hold it.
            let (#cache, #miss) = {
                let mut #key = ::layercache::__private::KeyBuilder::new();
                let #cache = #render_key_call;
                match #hit_fn(&#cache, &#key, &OPTIONS, &#mode) {
                    ::core::result::Result::Ok(#hit) => return #hit_value,
                    ::core::result::Result::Err(#miss) => (#cache, #miss),
                }
            };
            // The load is boxed, with its plan: the function's future holds only the arguments,
            // the cache, the mode and a pointer, so a hit moves and drops a small future; a miss
            // pays one allocation among the many of a load.
            #load_result
        }};
        quote!(#(#attrs)* #vis #sig #block)
    }

    fn key_fn(&self) -> TokenStream {
        let f = self.f;
        let item = &f.item;
        let cfgs: Vec<&Attribute> = item.attrs.iter().filter(|a| is_cfg(a)).collect();
        let vis = &item.vis;
        let name = key_fn_name(f.ident());
        // With `cache = expr`, the reference parameters and `self` are borrowed for `'__cache`, so
        // the cache can be borrowed from them. A cache computed from an owned parameter is cloned
        // instead: the loader moves that parameter while the cache is in use.
        let mentioned = self.args.cache.as_ref().map(|e| {
            let mut idents = Vec::new();
            collect_idents(e.to_token_stream(), &mut idents);
            idents
        });
        let owned_root = mentioned.as_ref().is_some_and(|m| {
            f.params
                .iter()
                .any(|p| !matches!(p.ty, Type::Reference(_)) && m.contains(&p.ident.to_string()))
        });
        let lifetime = (self.args.cache.is_some() && !owned_root)
            .then(|| syn::Lifetime::new("'__cache", Span::call_site()));
        let mut generics = item.sig.generics.clone();
        if let Some(lt) = &lifetime {
            generics.params.insert(
                0,
                syn::GenericParam::Lifetime(syn::LifetimeParam::new(lt.clone())),
            );
        }
        let where_clause = &generics.where_clause;
        let receiver = f.receiver.as_ref().map(|r| match &lifetime {
            Some(lt) => {
                let self_token = &r.self_token;
                quote!(&#lt #self_token,)
            }
            None => quote!(#r,),
        });
        let params = f.params.iter().map(|p| {
            let ident = &p.ident;
            match (&lifetime, &p.ty) {
                (Some(lt), Type::Reference(r)) => {
                    let elem = &r.elem;
                    quote!(#ident: &#lt #elem)
                }
                (None, Type::Reference(r)) => {
                    let (lt, elem) = (&r.lifetime, &r.elem);
                    quote!(#ident: &#lt #elem)
                }
                (_, ty) => {
                    let ty = parenthesized_bounds(ty);
                    quote!(#ident: &#ty)
                }
            }
        });
        let (cache, key) = (local("cache"), local("key"));
        let (cache_expr, cache_lifetime) = match (&self.args.cache, &lifetime) {
            (Some(expr), Some(lt)) => (
                cache_ref(expr, &|i| i == "self" || f.param(&i.to_string()).is_some()),
                quote!(#lt),
            ),
            (Some(expr), None) => {
                let span = Span::call_site().located_at(expr.span());
                let owned = quote_spanned!(span=> ::layercache::__private::cache_owned(&(#expr)));
                (owned, quote!('static))
            }
            (None, _) if self.args.l2.is_some() => {
                let name = f.ident().unraw().to_string();
                (
                    quote!(::layercache::__private::global_cache_l2(
                        ::core::concat!(::core::module_path!(), "::", #name),
                        {
                            static WARNED: ::layercache::__private::WarnOnce =
                                ::layercache::__private::WarnOnce::new();
                            &WARNED
                        },
                    )),
                    quote!('static),
                )
            }
            (None, _) => (
                quote!(::layercache::__private::global_cache()),
                quote!('static),
            ),
        };
        let render = match &self.args.key {
            Some(t) => t.render_calls(),
            None => self.default_key(),
        };
        let render_name = render_key_fn_name(f.ident());
        let params: Vec<TokenStream> = params.collect();
        let args: Vec<TokenStream> = f
            .params
            .iter()
            .map(|p| p.ident.to_token_stream())
            .chain(std::iter::once(quote!(&mut #key)))
            .collect();
        let render_call = self.call(&render_name, &args);
        // Each parameter by reference as declared (`String` gives `&String`: `clippy::ptr_arg`).
        // The renderer writes into the caller's `KeyBuilder` (on its stack): a hit allocates
        // nothing. The key builder proper (`#[invalidates]` calls it) owns its key.
        quote! {
            #(#cfgs)*
            #[doc(hidden)]
            #[allow(unused_variables, clippy::needless_lifetimes, clippy::ptr_arg)]
            #[inline]
            #vis fn #render_name #generics (#receiver #(#params,)* #key: &mut ::layercache::__private::KeyBuilder)
                -> ::layercache::__private::CacheRef<#cache_lifetime> #where_clause
            {
                let #cache = #cache_expr;
                #key #render;
                ::layercache::__private::end_key(&#cache, #key);
                #cache
            }
            #(#cfgs)*
            #[doc(hidden)]
            #[allow(unused_variables, clippy::needless_lifetimes, clippy::ptr_arg)]
            #vis fn #name #generics (#receiver #(#params),*)
                -> (::layercache::__private::CacheRef<#cache_lifetime>, ::layercache::__private::CacheKey) #where_clause
            {
                let mut #key = ::layercache::__private::KeyBuilder::new();
                let #cache = #render_call;
                let #key = ::layercache::__private::owned_key(&#key);
                (#cache, #key)
            }
        }
    }

    /// The parameter named by `cache = param`, which is not part of the default key.
    fn cache_param(&self) -> Option<&Ident> {
        match &self.args.cache {
            Some(Expr::Path(p)) => p.path.get_ident(),
            _ => None,
        }
    }

    /// Module path (or `Self`'s type name) + function name + every parameter, `:`-separated.
    fn default_key(&self) -> TokenStream {
        let f = self.f;
        let prefix = if self.is_method() || self.place == Place::InImpl {
            quote!(.literal(::core::any::type_name::<Self>()))
        } else {
            quote!(.literal(::core::module_path!()))
        };
        let mut name = format!("::{}", f.ident().unraw());
        let mut parts = Vec::new();
        for p in f
            .params
            .iter()
            .filter(|p| Some(&p.ident) != self.cache_param())
        {
            name.push(':');
            let lit = std::mem::take(&mut name);
            let ident = &p.ident;
            // A parameter that is not a `KeyPart` is reported at the parameter.
            let part = quote_spanned!(ident.span()=> .part(&#ident));
            parts.push(quote!(.literal(#lit) #part));
        }
        let tail = (!name.is_empty()).then(|| quote!(.literal(#name)));
        quote!(#prefix #(#parts)* #tail)
    }

    /// Parameters the key, tags, `cache`, `condition` or `unless` read: the body need not use them.
    fn used_by_attribute(&self) -> Vec<String> {
        let a = self.args;
        if a.key.is_none() {
            return self.f.params.iter().map(|p| p.ident.to_string()).collect();
        }
        let mut used: Vec<String> = a
            .key
            .iter()
            .chain(&a.tags)
            .flat_map(|t| t.placeholders().map(|p| p.root.clone()).collect::<Vec<_>>())
            .collect();
        for expr in [&a.cache, &a.condition, &a.unless].into_iter().flatten() {
            collect_idents(expr.to_token_stream(), &mut used);
        }
        used
    }

    fn load_fn(&self) -> TokenStream {
        let item = &self.f.item;
        let attrs = item.attrs.iter().filter(|a| is_cfg(a) || is_lint(a));
        let mut sig = item.sig.clone();
        sig.ident = load_fn_name(&sig.ident);
        // A parameter that only the key reads is not unused.
        let used = self.used_by_attribute();
        let mut in_body = Vec::new();
        collect_idents(item.block.to_token_stream(), &mut in_body);
        for input in &mut sig.inputs {
            if let FnArg::Typed(t) = input {
                if let Pat::Ident(p) = &*t.pat {
                    let name = p.ident.to_string();
                    if used.contains(&name) && !in_body.contains(&name) {
                        t.attrs.push(syn::parse_quote!(#[allow(unused_variables)]));
                    }
                }
            }
        }
        let block = &item.block;
        quote! {
            #(#attrs)*
            #[doc(hidden)]
            #sig #block
        }
    }
}

/// `ty`, in parentheses when it is a list of bounds (`impl KeyPart + Sync`, `dyn A + B`), so
/// that `&` in front of it binds to the whole type rather than to the first bound.
fn parenthesized_bounds(ty: &Type) -> TokenStream {
    let many = match ty {
        Type::ImplTrait(t) => t.bounds.len() > 1,
        Type::TraitObject(t) => t.bounds.len() > 1,
        _ => false,
    };
    if many {
        quote!((#ty))
    } else {
        ty.to_token_stream()
    }
}

fn collect_idents(tokens: TokenStream, out: &mut Vec<String>) {
    for t in tokens {
        match t {
            proc_macro2::TokenTree::Ident(i) => out.push(i.to_string()),
            proc_macro2::TokenTree::Group(g) => collect_idents(g.stream(), out),
            _ => {}
        }
    }
}

/// `cache = expr` as a `CacheRef`, borrowing the cache when `expr` is a place (`self.cache`, a
/// static) and taking it when it is a value (`state.cache()`, a `&Cache` parameter). A wrong type
/// is reported at `expr`.
fn cache_ref(expr: &Expr, by_value: &dyn Fn(&Ident) -> bool) -> TokenStream {
    let place = match expr {
        Expr::Path(p) => p.path.get_ident().is_none_or(|i| !by_value(i)),
        Expr::Field(_) | Expr::Index(_) | Expr::Paren(_) => true,
        Expr::Unary(u) => matches!(u.op, syn::UnOp::Deref(_)),
        _ => false,
    };
    // Located at `expr` (where a wrong type is reported) but in the macro's context, so lints
    // about the generated borrow do not fire in the user's code.
    let span = Span::call_site().located_at(expr.span());
    if place {
        quote_spanned!(span=> ::layercache::__private::IntoCacheRef::into_cache_ref(&(#expr)))
    } else {
        quote_spanned!(span=> ::layercache::__private::IntoCacheRef::into_cache_ref(#expr))
    }
}

fn render_tag(t: &Template) -> TokenStream {
    let tag = local("t");
    let render = t.render_calls();
    quote!(::layercache::__private::tag(|#tag| { #tag #render; }))
}
