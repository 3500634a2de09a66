//! Checks that need both the arguments and the function: template names, durations against each
//! other, arguments that only mean something together, and what `refresh` needs.

use proc_macro2::Span;
use syn::{Expr, Type};

use crate::args::{CachedArgs, DurationArg, InvalidatesArgs};
use crate::errors::{did_you_mean, Errors};
use crate::signature::{borrows, Function};
use crate::template::Template;

pub(crate) fn cached(f: &Function, args: &CachedArgs, errors: &mut Errors) {
    if let Some(key) = &args.key {
        templates(f, std::slice::from_ref(key), errors);
    }
    templates(f, &args.tags, errors);
    durations(args, errors);
    needs_l2(args, errors);

    if let (Some(d), false) = (&args.cache_none, f.output.value_is_option()) {
        errors.spanned(
            &d.written,
            "`cache_none` caches an empty result, so it needs a function returning `Option<T>` or `Result<Option<T>, E>`",
        );
    }
    if let Some(unless) = &args.unless {
        check_value_closure(
            "unless",
            "|v| v.is_empty()",
            "the loaded value (`&T`)",
            unless,
            errors,
        );
    }
    if let Some(ttl_from) = &args.ttl_from {
        check_value_closure(
            "ttl_from",
            "|v| v.max_age",
            "the loaded value (`&T`), returning a `Duration`",
            ttl_from,
            errors,
        );
    }
    if let Some(weigh) = &args.weigh {
        check_value_closure(
            "weigh",
            "|v| v.len()",
            "the loaded value (`&T`), returning the bytes it owns on the heap (`usize`)",
            weigh,
            errors,
        );
    }
    if args.refresh.is_some() && f.is_async() {
        refresh_params(f, errors);
    }
    if !f.is_async() {
        sync_fn(f, args, errors);
    }
}

/// A plain `fn` runs on the caller's thread with no async runtime to lean on: what needs one is
/// refused, with the reason.
fn sync_fn(f: &Function, args: &CachedArgs, errors: &mut Errors) {
    let name = f.ident();
    let fix = format!("make it `async fn {name}`, or remove it");
    if let Some(l2) = &args.l2 {
        errors.spanned(
            l2,
            format!("`l2` needs an `async fn`: the L2 is a network store driven by the async runtime, and blocking a thread on it would stall that runtime (or deadlock it on a single-threaded one); {fix} to keep `{name}` in process"),
        );
    }
    if let Some(lock) = &args.lock {
        errors.spanned(
            lock,
            format!(
                "`lock` is a distributed lock held through L2, which needs an `async fn`: {fix}"
            ),
        );
    }
    if let Some(t) = &args.timeout {
        errors.spanned(&t.written, format!("`timeout` stops waiting on a loader that is still running, which a plain `fn` cannot do (its body runs on the caller's thread): {fix}"));
    }
    if let Some(r) = &args.refresh {
        errors.spanned(&r.written, format!("`refresh` reloads in the background on the async runtime, which a plain `fn` does not have: {fix}"));
    }
}

pub(crate) fn invalidates(f: &Function, args: &InvalidatesArgs, errors: &mut Errors) {
    templates(f, &args.keys, errors);
    templates(f, &args.tags, errors);
    if args.is_empty() && !args.rejected_target {
        errors.at(
            Span::call_site(),
            "#[invalidates] needs something to invalidate: a call of a `#[cached]` function like `#[invalidates(get_product(id))]`, a key template `key = \"product:<id>\"`, or `tags = [\"catalog\"]`",
        );
    }
    if let (Some(cache), true) = (&args.cache, args.keys.is_empty() && args.tags.is_empty()) {
        errors.spanned(
            cache,
            "`cache` chooses where `key = ...` and `tags = ...` are invalidated; a call like `get_product(id)` already invalidates in the cache that `get_product` reads from, so remove `cache` here",
        );
    }
}

/// Every placeholder must name a parameter (or `self` in a method).
fn templates(f: &Function, templates: &[Template], errors: &mut Errors) {
    let names: Vec<String> = f.params.iter().map(|p| p.ident.to_string()).collect();
    for t in templates {
        for p in t.placeholders() {
            if p.root == "self" {
                if f.receiver.is_none() {
                    errors.spanned(
                        &t.lit,
                        format!(
                            "`{}` refers to `self`, but `{}` is not a method: use a parameter, e.g. `<{}>`",
                            p.text(),
                            f.ident(),
                            names.first().map_or("id", String::as_str)
                        ),
                    );
                }
                continue;
            }
            if f.param(&p.root).is_some() {
                continue;
            }
            let listed = if names.is_empty() {
                format!("`{}` has no parameters", f.ident())
            } else {
                format!(
                    "the parameters of `{}` are {}",
                    f.ident(),
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let candidates: Vec<&str> = names.iter().map(String::as_str).collect();
            let hint = match did_you_mean(&p.root, &candidates) {
                Some(m) => format!("; did you mean `<{m}>`?"),
                None => String::new(),
            };
            errors.spanned(
                &t.lit,
                format!(
                    "unknown parameter `{}` in `{}` of {} template \"{}\": {listed}{hint}",
                    p.root,
                    p.text(),
                    t.what,
                    t.lit.value()
                ),
            );
        }
    }
}

fn durations(args: &CachedArgs, errors: &mut Errors) {
    // Only literals can be compared here; `Duration` expressions are the caller's to keep sane.
    let Some(ttl) = args.ttl.as_ref().and_then(|t| t.value) else {
        return;
    };
    let ttl_text = args.ttl.as_ref().map(DurationArg::text).unwrap_or_default();
    if let Some(l1) = args
        .l1_ttl
        .as_ref()
        .filter(|d| d.value.is_some_and(|v| v > ttl))
    {
        errors.spanned(
            &l1.written,
            format!(
                "`l1_ttl = {}` is longer than `ttl = {ttl_text}`: the in-process copy cannot stay fresh longer than the value; make it shorter or remove it",
                l1.text(),
            ),
        );
    }
    if let Some(r) = args
        .refresh
        .as_ref()
        .filter(|d| d.value.is_some_and(|v| v >= ttl))
    {
        errors.spanned(
            &r.written,
            format!(
                "`refresh = {}` is not shorter than `ttl = {ttl_text}`: refresh-ahead reloads a value that is still fresh, so make it shorter than `ttl` (e.g. 80% of it)",
                r.text(),
            ),
        );
    }
}

fn needs_l2(args: &CachedArgs, errors: &mut Errors) {
    if args.l2.is_some() {
        return;
    }
    if let Some(codec) = &args.codec {
        errors.spanned(
            &codec.lit,
            "`codec` chooses how values are encoded for L2, but this function is L1 only: add `l2`, or remove `codec`",
        );
    }
    if let Some(lock) = &args.lock {
        errors.spanned(
            lock,
            "`lock` makes instances share one load through L2, but this function is L1 only: add `l2`, or remove `lock`",
        );
    }
    if let Some(compress) = &args.compress {
        errors.spanned(
            compress,
            "`compress` compresses values stored in L2, but this function is L1 only: add `l2`, or remove `compress`",
        );
    }
    if let Some(version) = &args.version {
        errors.spanned(
            version,
            "`version` marks the L2 format of this function's values, but it is L1 only: add `l2`, or remove `version`",
        );
    }
    if let (Some(t), None) = (&args.timeout, &args.stale) {
        errors.spanned(
            &t.written,
            "`timeout` stops waiting on the loader when a stale value can be served, so it needs `stale = \"...\"` too",
        );
    }
}

/// `unless` and `ttl_from`: a closure of one parameter, the loaded value, that does not await.
fn check_value_closure(
    name: &str,
    example: &str,
    takes: &str,
    closure: &Expr,
    errors: &mut Errors,
) {
    if let Expr::Closure(c) = closure {
        if c.inputs.len() != 1 {
            errors.spanned(
                &c.inputs,
                format!(
                    "`{name}` takes a closure of one parameter, {takes}: `{name} = {example}`; this one has {}",
                    c.inputs.len()
                ),
            );
        }
        if let Some(a) = &c.asyncness {
            errors.spanned(
                a,
                format!("`{name}` runs on each loaded value and must not await: remove `async`"),
            );
        }
    }
}

/// `refresh` reloads after the call has returned, so it needs owned copies of every argument.
fn refresh_params(f: &Function, errors: &mut Errors) {
    for p in &f.params {
        let problem = match &p.ty {
            Type::Reference(r) if r.mutability.is_some() => {
                Some("a `&mut` parameter cannot be replayed later")
            }
            Type::Reference(r) if borrows(&r.elem).is_none() => None,
            ty if borrows(ty).is_some() => Some("it borrows data that may be gone by then"),
            _ => None,
        };
        if let Some(problem) = problem {
            let ty = &p.ty;
            errors.spanned(
                ty,
                format!(
                    "`refresh` reloads in the background after this call has returned, and `{}: {}` cannot be kept for that: {problem}. Take an owned type, or a plain reference `&T` (the refresh keeps a copy made with `Clone`, or `ToOwned` for `&str` and `&[T]`), or remove `refresh`",
                    p.ident,
                    crate::errors::code(ty)
                ),
            );
        }
    }
}
