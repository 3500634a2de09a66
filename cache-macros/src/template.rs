//! Key and tag templates: `"product:<id>"`, `"user:<self.tenant>:<p.id>"`.
//!
//! A template is literal text and placeholders. `<name>` is a parameter, `<name.field>` a field of
//! it (any depth, tuple indices too), `<self.field>` a field of the receiver; `<<` is a literal `<`.
//! Rendering goes through `KeyBuilder::part`, which escapes any value that could be mistaken for
//! template text; that only makes keys injective when neighbouring placeholders are separated by
//! literal text holding a separator character, which `Template::parse` requires.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Ident, LitStr};

use crate::errors::Errors;

/// A parsed template and the literal it came from (where its errors point).
#[derive(Clone)]
pub(crate) struct Template {
    pub(crate) lit: LitStr,
    /// "key" or "tag", for messages.
    pub(crate) what: &'static str,
    pub(crate) segments: Vec<Segment>,
}

#[derive(Clone)]
pub(crate) enum Segment {
    Literal(String),
    Placeholder(Placeholder),
}

/// `<root.field.field>`.
#[derive(Clone)]
pub(crate) struct Placeholder {
    pub(crate) root: String,
    pub(crate) fields: Vec<String>,
}

impl Placeholder {
    /// The placeholder as written, for messages.
    pub(crate) fn text(&self) -> String {
        let mut s = format!("<{}", self.root);
        for f in &self.fields {
            s.push('.');
            s.push_str(f);
        }
        s.push('>');
        s
    }

    /// The expression that reads the value, spanned at the template literal: `id`, `p.id`.
    pub(crate) fn expr(&self, span: Span) -> TokenStream {
        let root = if self.root == "self" {
            quote!(self)
        } else {
            let ident = ident(&self.root, span);
            quote!(#ident)
        };
        let fields = self.fields.iter().map(|f| match f.parse::<u32>() {
            Ok(index) => {
                let index = syn::Index { index, span };
                quote!(.#index)
            }
            Err(_) => {
                // Located at the template, but in the macro's context: a typo is reported there
                // without rustc offering to replace the whole template with the field's name.
                let field = ident(f, Span::call_site().located_at(span));
                quote!(.#field)
            }
        });
        quote!(#root #(#fields)*)
    }
}

fn ident(name: &str, span: Span) -> Ident {
    match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, span),
        None => Ident::new(name, span),
    }
}

/// Same characters as `cache_core::key::is_separator` (pinned by `separator_rule_is_the_runtimes`):
/// anything a value cannot render to unescaped.
fn is_separator(c: char) -> bool {
    !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '%'))
}

fn is_name(s: &str) -> bool {
    let s = s.strip_prefix("r#").unwrap_or(s);
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s != "_"
}

fn is_field(s: &str) -> bool {
    is_name(s) || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

impl Template {
    /// Parses `lit` (`what` is "key" or "tag", for messages). Reports every mistake it finds.
    pub(crate) fn parse(lit: &LitStr, what: &'static str, errors: &mut Errors) -> Option<Template> {
        let text = lit.value();
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut ok = true;
        let mut rest = text.as_str();
        while let Some(open) = rest.find('<') {
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            if let Some(tail) = after.strip_prefix('<') {
                literal.push('<');
                rest = tail;
                continue;
            }
            let Some(close) = after.find('>') else {
                ok = false;
                errors.spanned(
                    lit,
                    format!(
                        "unclosed `<` in {what} template \"{text}\": end the placeholder with `>`, as in \"product:<id>\", or write `<<` for a literal `<`"
                    ),
                );
                rest = "";
                break;
            };
            let inner = &after[..close];
            rest = &after[close + 1..];
            match parse_placeholder(inner) {
                Ok(p) => {
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Placeholder(p));
                }
                Err((problem, fix)) => {
                    ok = false;
                    errors.spanned(
                        lit,
                        format!("{problem} in {what} template \"{text}\": {fix}"),
                    );
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        let template = Template {
            lit: lit.clone(),
            what,
            segments,
        };
        ok &= template.check_separators(errors);
        ok.then_some(template)
    }

    pub(crate) fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Placeholder(p) => Some(p),
            Segment::Literal(_) => None,
        })
    }

    /// Two placeholders in a row must have a separator character between them: otherwise
    /// `<a><b>` renders ("1", "23") and ("12", "3") to the same key.
    fn check_separators(&self, errors: &mut Errors) -> bool {
        let what = self.what;
        let mut ok = true;
        let mut previous: Option<&Placeholder> = None;
        let mut between = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => between.push_str(text),
                Segment::Placeholder(p) => {
                    if let Some(prev) = previous {
                        if !between.chars().any(is_separator) {
                            ok = false;
                            let (a, b) = (prev.text(), p.text());
                            let found = if between.is_empty() {
                                "nothing".to_owned()
                            } else {
                                format!("only `{between}`")
                            };
                            errors.spanned(
                                &self.lit,
                                format!(
                                    "`{a}` and `{b}` in {what} template \"{}\" have {found} between them, so two different argument lists could render the same key: separate them with a character that cannot appear in a value unescaped, such as `:` or `/` (e.g. `{a}:{b}`); letters, digits, `_`, `.`, `-` and `%` do not separate",
                                    self.lit.value()
                                ),
                            );
                        }
                    }
                    previous = Some(p);
                    between.clear();
                }
            }
        }
        ok
    }

    /// The `KeyBuilder` calls that render this template, e.g. `.literal("product:").part(&id)`.
    pub(crate) fn render_calls(&self) -> TokenStream {
        let span = self.lit.span();
        let calls = self.segments.iter().map(|s| match s {
            Segment::Literal(text) => quote!(.literal(#text)),
            Segment::Placeholder(p) => {
                let expr = p.expr(span);
                quote!(.part(&#expr))
            }
        });
        quote!(#(#calls)*)
    }
}

/// A placeholder's path, or what is wrong with it and how to fix it.
fn parse_placeholder(inner: &str) -> Result<Placeholder, (String, String)> {
    if inner.trim().is_empty() {
        return Err((
            "empty placeholder `<>`".to_owned(),
            "name a parameter inside, e.g. `<id>`".to_owned(),
        ));
    }
    let mut parts = inner.split('.');
    let root = parts.next().unwrap_or_default();
    let fields: Vec<&str> = parts.collect();
    if !is_name(root) || !fields.iter().all(|f| is_field(f)) {
        let hint = if inner.contains('<') {
            " (a `<` inside a placeholder is not allowed: write `<<` for a literal `<`)"
        } else if inner.trim() != inner {
            " (without spaces)"
        } else {
            ""
        };
        return Err((
            format!("`<{inner}>` is not a placeholder"),
            format!("write `<param>`, `<param.field>` or `<self.field>`{hint}"),
        ));
    }
    Ok(Placeholder {
        root: root.to_owned(),
        fields: fields.into_iter().map(str::to_owned).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Template, String> {
        let mut errors = Errors::default();
        let lit = LitStr::new(s, Span::call_site());
        let t = Template::parse(&lit, "key", &mut errors);
        match errors.finish() {
            Ok(()) => t.ok_or_else(|| "no template".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn shape(t: &Template) -> String {
        t.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => format!("[{l}]"),
                Segment::Placeholder(p) => p.text(),
            })
            .collect()
    }

    fn err(s: &str) -> String {
        match parse(s) {
            Ok(t) => panic!("{s} parsed as {}", shape(&t)),
            Err(e) => e,
        }
    }

    #[test]
    fn splits_literals_and_placeholders() {
        let t = parse("product:<id>:<p.inner.0>/x").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(shape(&t), "[product:]<id>[:]<p.inner.0>[/x]");
        assert_eq!(
            shape(&parse("<self.tenant>").unwrap_or_else(|e| panic!("{e}"))),
            "<self.tenant>"
        );
        assert_eq!(
            shape(&parse("a<<b>").unwrap_or_else(|e| panic!("{e}"))),
            "[a<b>]"
        );
        assert_eq!(
            shape(&parse("static").unwrap_or_else(|e| panic!("{e}"))),
            "[static]"
        );
    }

    #[test]
    fn rejects_malformed_placeholders() {
        assert!(err("product:<id").contains("unclosed `<`"));
        assert!(err("product:<>").contains("empty placeholder"));
        assert!(err("p:<id + 1>").contains("is not a placeholder"));
        assert!(err("p:< id >").contains("without spaces"));
    }

    #[test]
    fn neighbouring_placeholders_need_a_separator() {
        assert!(err("<a><b>").contains("nothing between them"));
        assert!(err("<a>-<b>").contains("only `-`"));
        assert!(parse("<a>:<b>").is_ok());
        assert!(parse("<a>x/y<b>").is_ok());
    }

    /// The macro accepts a literal between two placeholders exactly when the runtime's renderer
    /// can never produce that character unescaped (`cache_core::key::is_separator`).
    #[test]
    fn separator_rule_is_the_runtimes() {
        let every_char = (0..=u32::from(char::MAX)).filter_map(char::from_u32);
        for c in every_char {
            assert_eq!(is_separator(c), cache_core::key::is_separator(c), "{c:?}");
        }
        let ascii_and_some_more = (0u8..=127).map(char::from).chain(['é', 'ß', '€', '😀']);
        for c in ascii_and_some_more {
            let literal = match c {
                '<' => "<<".to_owned(),
                c => c.to_string(),
            };
            assert_eq!(
                parse(&format!("<a>{literal}<b>")).is_ok(),
                cache_core::key::is_separator(c),
                "{c:?} between two placeholders"
            );
        }
    }
}
