//! `key!("category:<c>", c = name)`: a key or tag rendered by the same template code as
//! `#[cached]` and `#[invalidates]`, so hand-written keys match generated ones.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Token};

use super::local;
use crate::errors::{did_you_mean, Errors};
use crate::template::Template;

/// `"template", name = expr, ...`.
struct KeyInput {
    lit: LitStr,
    args: Vec<(Ident, Expr)>,
}

impl Parse for KeyInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let lit: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "`key!` takes a template and its values: `key!(\"category:<c>\", c = name)`",
            )
        })?;
        let mut args = Vec::new();
        if input.parse::<Option<Token![,]>>()?.is_some() {
            let list = Punctuated::<syn::ExprAssign, Token![,]>::parse_terminated(input)?;
            for a in list {
                let name = match &*a.left {
                    Expr::Path(p) => p.path.get_ident().cloned(),
                    _ => None,
                };
                let Some(name) = name else {
                    return Err(syn::Error::new_spanned(
                        &a.left,
                        "each value of `key!` is `name = expr`, named after its placeholder: `key!(\"category:<c>\", c = name)`",
                    ));
                };
                args.push((name, *a.right));
            }
        }
        Ok(KeyInput { lit, args })
    }
}

/// Expands `key!(...)` to an expression of type `String`.
pub(crate) fn key(input: TokenStream) -> TokenStream {
    let KeyInput { lit, args } = match syn::parse2::<KeyInput>(input) {
        Ok(i) => i,
        Err(e) => {
            let e = e.to_compile_error();
            return quote!({ #e ::std::string::String::new() });
        }
    };
    let mut errors = Errors::default();
    let template = Template::parse(&lit, "key", &mut errors);
    let names: Vec<String> = args.iter().map(|(n, _)| n.to_string()).collect();
    if let Some(t) = &template {
        check_names(t, &args, &names, &mut errors);
    }
    if let Err(e) = errors.finish() {
        // In expression position: the errors, then a value of the right type.
        let e = e.to_compile_error();
        return quote!({ #e ::std::string::String::new() });
    }
    let Some(template) = template else {
        return TokenStream::new();
    };
    // Each value is bound by reference under its own name, so the placeholders read it; a
    // placeholder with no value reads the variable of that name in scope, as `format!` does.
    let bindings = args
        .iter()
        .map(|(name, expr)| quote!(let #name = &(#expr);));
    let t = local("t");
    let render = template.render_calls();
    quote! {{
        #(#bindings)*
        ::layercache::__private::tag(|#t| { #t #render; })
    }}
}

/// Every value must be used by a placeholder; a placeholder close to a value's name is a typo.
fn check_names(t: &Template, args: &[(Ident, Expr)], names: &[String], errors: &mut Errors) {
    let used: Vec<&str> = t.placeholders().map(|p| p.root.as_str()).collect();
    let mut seen = Vec::new();
    for (name, _) in args {
        let s = name.to_string();
        if seen.contains(&s) {
            errors.spanned(name, format!("`{s}` is given twice: keep one"));
        }
        seen.push(s.clone());
        if !used.contains(&s.as_str()) {
            errors.spanned(
                name,
                format!(
                    "`{s}` is not used by the template \"{}\": add `<{s}>` to it, or remove `{s} = ...`",
                    t.lit.value()
                ),
            );
        }
    }
    let candidates: Vec<&str> = names.iter().map(String::as_str).collect();
    for p in t.placeholders() {
        if names.contains(&p.root) || p.root == "self" {
            continue;
        }
        if let Some(m) = did_you_mean(&p.root, &candidates) {
            errors.at(
                t.lit.span(),
                format!(
                    "`{}` in \"{}\" names no value: did you mean `<{m}>`?",
                    p.text(),
                    t.lit.value()
                ),
            );
        }
    }
}
