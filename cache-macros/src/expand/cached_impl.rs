//! `#[cached_impl(...)]` on an `impl` block: expands the `#[cached]` and `#[invalidates]` methods
//! inside with the block's arguments as their defaults (a method's own arguments win).
//!
//! Seeing the whole block is what lets it place the helpers: next to the methods in an inherent
//! impl, and in an inherent impl of its own for a trait impl (which accepts only the trait's
//! items). Associated functions without `self` call their helpers through `Self::`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Attribute, ImplItem, ImplItemFn, ItemFn, ItemImpl, Meta};

use super::{cached_fn, invalidates_fn, Expansion, Place};
use crate::args::{CachedArgs, InvalidatesArgs};
use crate::errors::Errors;

/// Which of the two attributes a method carries.
enum Marked {
    Cached(TokenStream),
    Invalidates(TokenStream),
}

/// Expands `#[cached_impl(attr)]` on `item`.
pub(crate) fn cached_impl(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut block = match syn::parse2::<ItemImpl>(item.clone()) {
        Ok(b) => b,
        Err(_) => {
            let e = syn::Error::new(
                proc_macro2::Span::call_site(),
                "#[cached_impl] goes on an `impl` block (inherent or `impl Trait for Type`); on a single function, use #[cached]",
            )
            .to_compile_error();
            return quote!(#e #item);
        }
    };
    let mut errors = Errors::default();
    let defaults = CachedArgs::parse_defaults(attr, &mut errors);
    // Mistakes in the defaults are reported once, and the methods still expand (without the
    // refused arguments), so they do not add errors of their own.
    let defaults_error = errors.finish().err().map(|e| e.to_compile_error());
    let mut helpers = TokenStream::new();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        let Some(marked) = take_marker(&mut method.attrs) else {
            continue;
        };
        let expanded = expand_method(method, marked, &defaults);
        helpers.extend(expanded.helpers);
        *item = ImplItem::Verbatim(expanded.in_place);
    }
    if block.trait_.is_some() {
        // A trait impl accepts only the trait's items: the helpers get an inherent impl.
        let (impl_generics, _, where_clause) = block.generics.split_for_impl();
        let self_ty = &block.self_ty;
        let cfgs = block.attrs.iter().filter(|a| super::is_cfg(a));
        quote! {
            #defaults_error
            #block
            #(#cfgs)*
            impl #impl_generics #self_ty #where_clause {
                #helpers
            }
        }
    } else {
        block.items.push(ImplItem::Verbatim(helpers));
        quote!(#defaults_error #block)
    }
}

/// Removes the method's `#[cached(...)]` or `#[invalidates(...)]` and returns its arguments.
fn take_marker(attrs: &mut Vec<Attribute>) -> Option<Marked> {
    let at = attrs.iter().position(|a| {
        a.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "cached" || s.ident == "invalidates")
    })?;
    let attr = attrs.remove(at);
    let is_cached = attr
        .path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "cached");
    let tokens = match attr.meta {
        Meta::List(list) => list.tokens,
        _ => TokenStream::new(),
    };
    Some(if is_cached {
        Marked::Cached(tokens)
    } else {
        Marked::Invalidates(tokens)
    })
}

fn expand_method(method: &ImplItemFn, marked: Marked, defaults: &CachedArgs) -> Expansion {
    let item_fn = ItemFn {
        attrs: method.attrs.clone(),
        vis: method.vis.clone(),
        sig: method.sig.clone(),
        block: Box::new(method.block.clone()),
    };
    let mut errors = Errors::default();
    match marked {
        Marked::Cached(tokens) => {
            let args = CachedArgs::parse(tokens, &mut errors).or_defaults(defaults);
            cached_fn(item_fn, args, Place::InImpl, errors)
        }
        Marked::Invalidates(tokens) => {
            let mut args = InvalidatesArgs::parse(tokens, &mut errors);
            // The block's `cache` is where this method's `key = ...` and `tags = ...` go.
            if args.cache.is_none() && !(args.keys.is_empty() && args.tags.is_empty()) {
                args.cache = defaults.cache.clone();
            }
            Expansion {
                in_place: invalidates_fn(item_fn, args, errors),
                helpers: TokenStream::new(),
            }
        }
    }
}
