//! The `LoadPlan` of a `#[cached]` call: what happens to a loaded value besides being returned
//! (`l2`, `cache_none`, `unless`, shared errors), its tags and its refresh-ahead reloader.
//!
//! Tags and the reloader are closures over the parameters, which the runtime calls only when it
//! stores a value or a refresh is due: an L1 hit renders no tag and copies no argument. They
//! borrow the parameters while the loader holds them, so the loader must not move what they read
//! (see [`Cached::lends`]); tags that read a parameter the loader moves are rendered up front.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, Pat, Type};

use super::{load_fn_name, local, Cached};
use crate::signature::Param;

/// The statements that build the plan, and the options the load uses.
pub(super) struct Plan {
    /// `let` bindings the plan borrows (tags, `unless`, the reloader), then `let plan = ...;`.
    pub(super) statements: TokenStream,
    /// `&OPTIONS`, or `&options` when the tags were rendered into a copy of them.
    pub(super) options: TokenStream,
}

impl Cached<'_> {
    pub(super) fn plan(&self) -> Plan {
        let (plan, tags, unless, refresher) = (
            local("plan"),
            local("tags"),
            local("unless"),
            local("refresher"),
        );
        let (value, error) = self.value_and_error();
        let ret_span = self.f.output.value().span();
        let ctor = if self.args.l2.is_some() {
            quote_spanned!(ret_span=> ::layercache::__private::shared_plan::<#value, #error>())
        } else {
            quote!(::layercache::__private::LoadPlan::<#value, #error>::local())
        };
        let mut bindings = TokenStream::new();
        let mut calls = TokenStream::new();
        if self.f.output.value_is_option() {
            calls.extend(quote!(.empty_when(|v| v.is_none())));
        }
        if let Some(u) = &self.args.unless {
            let u = annotate_value_closure(u, &value);
            bindings.extend(quote!(let #unless = #u;));
            calls.extend(quote!(.unless(&#unless)));
        }
        if let Some(t) = &self.args.ttl_from {
            let ttl_from = local("ttl_from");
            let t = annotate_value_closure(t, &value);
            let span = t.span();
            let check = quote_spanned!(span=> ::layercache::__private::ttl_from::<#value, _>);
            bindings.extend(quote!(let #ttl_from = #check(#t);));
            calls.extend(quote!(.ttl_from(&#ttl_from)));
        }
        if let Some(w) = &self.args.weigh {
            let w = annotate_value_closure(w, &value);
            // Located at the closure, where one that captures (not a `fn`) is reported.
            let span = w.span();
            let check = quote_spanned!(span=> ::layercache::__private::weigher::<#value>);
            calls.extend(quote!(.weigh(#check(#w))));
        }
        let mut options = quote!(&OPTIONS);
        // Durations given as expressions are evaluated now, on a miss (a hit reads none of them).
        let computed: Vec<TokenStream> = self
            .args
            .durations()
            .filter(|d| d.value.is_none())
            .map(|d| {
                let (name, value) = (&d.name, super::duration_tokens(d));
                quote!(.#name(#value))
            })
            .collect();
        let copy = local("options");
        if !computed.is_empty() {
            bindings.extend(quote!(let #copy = OPTIONS.clone() #(#computed)*;));
            options = quote!(&#copy);
        }
        if let Some(list) = self.tag_list() {
            if self.tags_can_wait() {
                // Located at the tags, where a parameter that is not `Sync` is reported.
                let span = Span::call_site().located_at(self.args.tags[0].lit.span());
                bindings.extend(quote_spanned!(span=> let #tags = || #list;));
                calls.extend(quote_spanned!(span=> .tags(&#tags)));
            } else {
                // A tag reads a parameter the body takes by value: rendered before the body does.
                let base = if computed.is_empty() {
                    quote!(OPTIONS.clone())
                } else {
                    quote!(#copy)
                };
                bindings.extend(quote!(let #copy = #base.with_tags(#list);));
                options = quote!(&#copy);
            }
        }
        if let Some(make) = self.refresher() {
            bindings.extend(quote!(let #refresher = #make;));
            calls.extend(quote!(.refresher_with(&#refresher)));
        }
        if let Some(make) = self.detached_rules(&value) {
            let detached = local("detached");
            bindings.extend(quote!(let #detached = #make;));
            calls.extend(quote!(.detached_rules(&#detached)));
        }
        let share = self.f.output.is_result().then(|| {
            quote! {
                let #plan = ::layercache::__private::ShareErrorsIfClone::<#error>::NEW.apply(#plan);
            }
        });
        // Without `weigh`, the value's `Weigh` impl when it has one.
        let weigh = self.args.weigh.is_none().then(|| {
            quote! {
                let #plan = ::layercache::__private::WeighIfWeigh::<#value>::NEW.apply(#plan);
            }
        });
        Plan {
            statements: quote! {
                #bindings
                let #plan = #ctor #calls;
                #share
                #weigh
            },
            options,
        }
    }

    /// `Vec::from([tag, ...])`, or `None` without tags.
    fn tag_list(&self) -> Option<TokenStream> {
        if self.args.tags.is_empty() {
            return None;
        }
        let tags = self.args.tags.iter().map(super::render_tag);
        Some(quote!(::layercache::__private::Vec::from([#(#tags),*])))
    }

    /// Whether the tags can be rendered when a value is stored rather than now.
    fn tags_can_wait(&self) -> bool {
        self.args
            .tags
            .iter()
            .flat_map(|t| t.placeholders())
            .all(|p| p.root == "self" || self.f.param(&p.root).is_some_and(|p| self.lends(p)))
    }

    /// Whether the plan's closures may borrow `p` while the loader holds the parameters: a
    /// shared reference or a `Copy` primitive is copied into the body, not moved. With `refresh`,
    /// every parameter is lent (the reloader reads them all), and the body gets copies of those
    /// taken by value, made on a miss.
    fn lends(&self, p: &Param) -> bool {
        match &p.ty {
            Type::Reference(r) => r.mutability.is_none(),
            ty if is_copy_primitive(ty) => true,
            _ => self.args.refresh.is_some(),
        }
    }

    /// How the loader passes `p` to the body: moved, or (when the reloader borrows it and a move
    /// is not a copy) cloned.
    pub(super) fn loader_arg(&self, p: &Param) -> TokenStream {
        let ident = &p.ident;
        let by_value = !matches!(p.ty, Type::Reference(_));
        if self.args.refresh.is_some() && by_value && !is_copy_primitive(&p.ty) {
            let copy = RefreshCopy::of(p).copy;
            quote!(#copy(&#ident))
        } else {
            quote!(#ident)
        }
    }

    /// The closure that builds the `'static` reloader of `refresh` from owned copies of `self`
    /// and the arguments, or `None` without `refresh`.
    fn refresher(&self) -> Option<TokenStream> {
        let refresh = self.args.refresh.as_ref()?;
        let span = refresh.written.span();
        let this = local("this");
        let mut copies = Vec::new();
        let mut clones = Vec::new();
        let mut args = Vec::new();
        if let Some(r) = &self.f.receiver {
            // Spanned at `self`, where a missing `Clone` is reported (once: both calls have the
            // same span and bound).
            let span = r.self_token.span;
            let this_ref = quote_spanned!(span=> self);
            let copy = quote_spanned!(span=> ::layercache::__private::refresh_clone::<Self>);
            copies.push(quote!(let #this = #copy(#this_ref);));
            clones.push(quote!(let #this = #copy(&#this);));
        }
        for p in &self.f.params {
            let ident = &p.ident;
            let RefreshCopy {
                copy,
                by_ref,
                to_owned,
            } = RefreshCopy::of(p);
            let clone = quote_spanned!(p.ty.span()=> ::layercache::__private::Clone::clone);
            copies.push(if by_ref {
                quote!(let #ident = #copy(#ident);)
            } else {
                quote!(let #ident = #copy(&#ident);)
            });
            // Same call and span as the first copy, so a missing `Clone` is reported once.
            clones.push(if to_owned {
                quote!(let #ident = #clone(&#ident);)
            } else {
                quote!(let #ident = #copy(&#ident);)
            });
            args.push(if by_ref {
                quote!(&#ident)
            } else {
                quote!(#ident)
            });
        }
        let helper = load_fn_name(self.f.ident());
        let turbofish = self.turbofish();
        let call = if self.is_method() {
            quote!(#this.#helper #turbofish(#(#args),*))
        } else {
            let path = self.helper_path(&helper);
            quote!(#path #turbofish(#(#args),*))
        };
        let call = if self.f.output.is_result() {
            call
        } else {
            quote!(::layercache::__private::infallible(#call))
        };
        let refresher = quote_spanned!(span=> ::layercache::__private::refresher);
        Some(quote! {
            || {
                #(#copies)*
                #refresher(move || {
                    #(#clones)*
                    async move { #call.await }
                })
            }
        })
    }
}

impl Cached<'_> {
    /// With `refresh`, the `'static` copies of `unless` and `ttl_from` that let the refresh run
    /// in the background: each closure owns copies of the parameters it reads. `None` without
    /// `refresh`, without either closure, or when one reads `self` (then the caller whose hit
    /// found the refresh due reloads in-band).
    fn detached_rules(&self, value: &TokenStream) -> Option<TokenStream> {
        self.args.refresh.as_ref()?;
        let closures = [
            ("unless", &self.args.unless),
            ("ttl_from", &self.args.ttl_from),
        ];
        if closures.iter().all(|(_, c)| c.is_none()) {
            return None;
        }
        let mut calls = Vec::new();
        for (name, closure) in closures {
            let Some(closure) = closure else { continue };
            let mut mentioned = Vec::new();
            super::collect_idents(closure.to_token_stream(), &mut mentioned);
            if mentioned.iter().any(|m| m == "self") {
                return None;
            }
            let copies = self
                .f
                .params
                .iter()
                .filter(|p| mentioned.contains(&p.ident.to_string()))
                .map(|p| {
                    let ident = &p.ident;
                    let RefreshCopy { copy, by_ref, .. } = RefreshCopy::of(p);
                    if by_ref {
                        quote!(let #ident = #copy(#ident);)
                    } else {
                        quote!(let #ident = #copy(&#ident);)
                    }
                });
            let closure = annotate_value_closure(closure, value);
            let name = syn::Ident::new(name, Span::call_site());
            let v = local("v");
            calls.push(quote! {
                .#name({
                    #(#copies)*
                    ::layercache::__private::Arc::new(move |#v: &#value| (#closure)(#v))
                })
            });
        }
        Some(quote!(|| ::layercache::__private::DetachedRules::new() #(#calls)*))
    }
}

/// How the reloader copies a parameter.
struct RefreshCopy {
    /// `refresh_clone::<T>` or `refresh_owned`, spanned at the type, where a missing `Clone` is
    /// reported.
    copy: TokenStream,
    /// The parameter is a reference (`&T`, `&str`).
    by_ref: bool,
    /// Copied with `ToOwned` (`&str` to `String`), so its copy is cloned with `Clone`.
    to_owned: bool,
}

impl RefreshCopy {
    fn of(p: &Param) -> RefreshCopy {
        let (copy, owned_ty, by_ref) = match &p.ty {
            Type::Reference(r) if is_unsized_borrow(&r.elem) => (quote!(refresh_owned), None, true),
            Type::Reference(r) => (quote!(refresh_clone), Some(&*r.elem), true),
            ty => (quote!(refresh_clone), Some(ty), false),
        };
        // `::<T>` pins the type, so a missing `Clone` is reported for `T` itself.
        let turbofish = owned_ty
            .filter(|ty| !has_impl_trait(ty))
            .map(|ty| quote!(::<#ty>));
        RefreshCopy {
            copy: quote_spanned!(p.ty.span()=> ::layercache::__private::#copy #turbofish),
            by_ref,
            to_owned: owned_ty.is_none(),
        }
    }
}

/// Integers, `bool` and `char`: passed to the body by copy, so a closure may keep reading them.
fn is_copy_primitive(ty: &Type) -> bool {
    const PRIMITIVES: &[&str] = &[
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        "bool", "char",
    ];
    match ty {
        Type::Group(g) => is_copy_primitive(&g.elem),
        Type::Paren(p) => is_copy_primitive(&p.elem),
        Type::Path(p) => p.qself.is_none() && PRIMITIVES.iter().any(|name| p.path.is_ident(name)),
        _ => false,
    }
}

fn has_impl_trait(ty: &Type) -> bool {
    let mut scan = crate::signature::TypeScan::default();
    syn::visit::Visit::visit_type(&mut scan, ty);
    scan.impl_trait.is_some()
}

/// `str`, `[T]`, `Path`, `OsStr`, `CStr`: borrowed forms copied with `ToOwned` rather than `Clone`.
fn is_unsized_borrow(ty: &Type) -> bool {
    match ty {
        Type::Slice(_) => true,
        Type::Path(p) => p.path.segments.last().is_some_and(|s| {
            ["str", "Path", "OsStr", "CStr"]
                .iter()
                .any(|n| s.ident == n)
        }),
        _ => false,
    }
}

/// Gives an `unless` or `ttl_from` closure's parameter the type `&V` when it has none, so its
/// body type-checks.
fn annotate_value_closure(closure: &Expr, value: &TokenStream) -> TokenStream {
    let Expr::Closure(c) = closure else {
        return closure.to_token_stream();
    };
    let mut c = c.clone();
    if let Some(first) = c.inputs.first_mut() {
        if !matches!(first, Pat::Type(_)) {
            let pat = first.clone();
            *first = Pat::Type(syn::PatType {
                attrs: Vec::new(),
                pat: Box::new(pat),
                colon_token: Default::default(),
                ty: Box::new(syn::parse_quote!(&#value)),
            });
        }
    }
    c.to_token_stream()
}
