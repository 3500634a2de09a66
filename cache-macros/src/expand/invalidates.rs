//! `#[invalidates]`: render the keys and tags, run the body, invalidate (for `Result`, on `Ok`).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, ItemFn};

use super::{cache_ref, key_fn_name, local, not_a_fn, render_tag, with_errors};
use crate::args::InvalidatesArgs;
use crate::errors::Errors;
use crate::signature::{Function, Reader, TypeScan};
use crate::validate;

/// Expands `#[invalidates(attr)]` on `item`.
pub(crate) fn invalidates(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(_) => return not_a_fn("#[invalidates]", item),
    };
    let mut errors = Errors::default();
    let args = InvalidatesArgs::parse(attr, &mut errors);
    invalidates_fn(item_fn, args, errors)
}

/// Expands one `#[invalidates]` function whose arguments are parsed (`errors` holds their mistakes).
pub(crate) fn invalidates_fn(
    item_fn: ItemFn,
    args: InvalidatesArgs,
    mut errors: Errors,
) -> TokenStream {
    let f = Function::analyze(item_fn, Reader::Invalidates, &mut errors);
    validate::invalidates(&f, &args, &mut errors);
    let targets: Vec<TokenStream> = args
        .targets
        .iter()
        .filter_map(|t| errors.take(key_builder_call(t)))
        .collect();
    match errors.finish() {
        Ok(()) => expand_invalidates(&f, &args, &targets),
        Err(e) => with_errors(&f.item, e),
    }
}

/// `get_product(id)` → `__layercache_key_get_product(&(id))`; `self.get(id)` →
/// `self.__layercache_key_get(&(id))`. The builder's name carries the span of the name written
/// in the attribute, so a function that is not `#[cached]` is reported there.
fn key_builder_call(target: &Expr) -> syn::Result<TokenStream> {
    let by_ref = |args: &syn::punctuated::Punctuated<Expr, syn::Token![,]>| -> Vec<TokenStream> {
        args.iter()
            .map(|a| match a {
                Expr::Path(_)
                | Expr::Field(_)
                | Expr::Lit(_)
                | Expr::Call(_)
                | Expr::MethodCall(_) => {
                    quote_spanned!(a.span()=> &#a)
                }
                _ => quote_spanned!(a.span()=> &(#a)),
            })
            .collect()
    };
    match target {
        Expr::Call(call) => {
            let Expr::Path(path) = &*call.func else {
                return Err(syn::Error::new_spanned(
                    &call.func,
                    "expected the name of a `#[cached]` function, as in `get_product(id)`",
                ));
            };
            let mut path = path.path.clone();
            if let Some(last) = path.segments.last_mut() {
                last.ident = key_fn_name(&last.ident);
            }
            let args = by_ref(&call.args);
            Ok(quote!(#path(#(#args),*)))
        }
        Expr::MethodCall(m) => {
            let receiver = &m.receiver;
            let receiver = match &**receiver {
                Expr::Path(_)
                | Expr::Field(_)
                | Expr::MethodCall(_)
                | Expr::Call(_)
                | Expr::Paren(_) => receiver.to_token_stream(),
                other => quote!((#other)),
            };
            let method = key_fn_name(&m.method);
            let turbofish = &m.turbofish;
            let args = by_ref(&m.args);
            Ok(quote!(#receiver.#method #turbofish(#(#args),*)))
        }
        other => Err(syn::Error::new_spanned(
            other,
            "expected a call of a `#[cached]` function, as in `get_product(id)` or `self.get(id)`",
        )),
    }
}

fn expand_invalidates(
    f: &Function,
    args: &InvalidatesArgs,
    targets: &[TokenStream],
) -> TokenStream {
    let item = &f.item;
    let (attrs, vis, sig, block) = (&item.attrs, &item.vis, &item.sig, &item.block);
    let (cache, invalidation, result) = (local("cache"), local("invalidation"), local("result"));

    let uses_cache = !(args.keys.is_empty() && args.tags.is_empty());
    let cache_binding = uses_cache.then(|| {
        let expr = match &args.cache {
            // A reference parameter is passed as it is; any other place is borrowed.
            Some(expr) => cache_ref(expr, &|i| {
                i == "self"
                    || f.param(&i.to_string())
                        .is_some_and(|p| matches!(p.ty, syn::Type::Reference(_)))
            }),
            None => quote!(::layercache::__private::global_cache()),
        };
        quote!(let #cache = #expr;)
    });
    let k = local("k");
    let keys = args.keys.iter().map(|t| {
        let render = t.render_calls();
        quote!(.key(::layercache::__private::key(&#cache, |#k| { #k #render; })))
    });
    let tags = args.tags.iter().map(|t| {
        let tag = render_tag(t);
        quote!(.tag(&#cache, #tag))
    });
    let ret = &f.output.ty;
    let mut scan = TypeScan::default();
    syn::visit::Visit::visit_type(&mut scan, ret);
    let names_return_type = scan.impl_trait.is_none();
    // An async body runs as a future typed as the function's return; a plain one in a closure.
    // Either way `return` and `?` keep their meaning.
    let (run, body) = if f.is_async() {
        let body = if names_return_type {
            quote!(::layercache::__private::typed_body::<#ret>(async #block).await)
        } else {
            quote!(async #block.await)
        };
        (quote!(#invalidation.run().await;), body)
    } else {
        let annotation = names_return_type.then(|| quote!(-> #ret));
        (
            quote!(::layercache::__private::invalidate_blocking(&#invalidation);),
            quote!((move || #annotation #block)()),
        )
    };
    let closure_lint = (!f.is_async()).then(|| quote!(#[allow(clippy::redundant_closure_call)]));
    let before = args.before.as_ref().map(|_| run.clone());
    let after = if f.output.is_result() {
        quote! {
            if #result.is_ok() {
                #run
            }
        }
    } else {
        run
    };
    quote! {
        #(#attrs)* #vis #sig {
            #cache_binding
            let #invalidation = ::layercache::__private::Invalidations::new()
                #(.key(#targets))*
                #(#keys)*
                #(#tags)*;
            #before
            #closure_lint
            let #result = #body;
            #after
            #result
        }
    }
}
