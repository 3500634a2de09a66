//! Parsing the arguments of `#[cached(...)]` and `#[invalidates(...)]`.
//!
//! Both take a comma-separated list of `name = value`, bare flags, and (for `#[invalidates]`)
//! calls. Every argument is read even after a mistake, so all mistakes are reported at once.

use std::time::Duration;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Token};

use crate::errors::{did_you_mean, Errors};
use crate::template::Template;

/// `#[cached(...)]`.
#[derive(Default, Clone)]
pub(crate) struct CachedArgs {
    pub(crate) key: Option<Template>,
    pub(crate) ttl: Option<DurationArg>,
    pub(crate) l1_ttl: Option<DurationArg>,
    pub(crate) stale: Option<DurationArg>,
    pub(crate) refresh: Option<DurationArg>,
    pub(crate) timeout: Option<DurationArg>,
    pub(crate) cache_none: Option<DurationArg>,
    pub(crate) jitter: Option<DurationArg>,
    pub(crate) l2: Option<Ident>,
    pub(crate) lock: Option<Ident>,
    pub(crate) compress: Option<Ident>,
    pub(crate) version: Option<syn::LitInt>,
    pub(crate) tags: Vec<Template>,
    pub(crate) codec: Option<CodecArg>,
    pub(crate) condition: Option<Expr>,
    pub(crate) unless: Option<Expr>,
    pub(crate) ttl_from: Option<Expr>,
    pub(crate) weigh: Option<Expr>,
    pub(crate) cache: Option<Expr>,
}

/// A duration: a string literal checked at compile time (`ttl = "5m"`), or an expression of type
/// `Duration` evaluated when a value is loaded (`ttl = CONFIG.ttl`).
#[derive(Clone)]
pub(crate) struct DurationArg {
    pub(crate) name: Ident,
    /// The value as written (where its errors point).
    pub(crate) written: Expr,
    /// The parsed literal, or `None` for an expression.
    pub(crate) value: Option<Duration>,
}

impl DurationArg {
    /// The duration as written, for messages: `"5m"` or `CONFIG.ttl`.
    pub(crate) fn text(&self) -> String {
        match lit_str(&self.written) {
            Some(lit) => format!("\"{}\"", lit.value()),
            None => crate::errors::code(&self.written),
        }
    }
}

/// `codec = "json"`: the literal and the `Codec` variant it names.
#[derive(Clone)]
pub(crate) struct CodecArg {
    pub(crate) lit: LitStr,
    pub(crate) variant: &'static str,
}

const CACHED_ARGS: &[&str] = &[
    "key",
    "ttl",
    "l1_ttl",
    "l2",
    "stale",
    "refresh",
    "timeout",
    "tags",
    "codec",
    "lock",
    "compress",
    "version",
    "cache_none",
    "jitter",
    "condition",
    "unless",
    "ttl_from",
    "weigh",
    "cache",
];

const CODECS: &[(&str, &str)] = &[
    ("json", "Json"),
    ("bincode", "Bincode"),
    ("msgpack", "MessagePack"),
];

/// `#[invalidates(...)]`.
#[derive(Default)]
pub(crate) struct InvalidatesArgs {
    /// Calls of `#[cached]` functions: `get_product(id)`, `self.get(id)`, `Self::get(self, id)`.
    pub(crate) targets: Vec<Expr>,
    pub(crate) keys: Vec<Template>,
    pub(crate) tags: Vec<Template>,
    pub(crate) cache: Option<Expr>,
    pub(crate) before: Option<Ident>,
    /// Something meant as a target was written but refused (already reported).
    pub(crate) rejected_target: bool,
}

const INVALIDATES_ARGS: &[&str] = &["key", "tags", "cache", "before"];

/// One argument as written: `name = value`, a bare `name`, or anything else (`other`).
enum RawArg {
    Named { name: Ident, value: Expr },
    Flag(Ident),
    Other(Expr),
}

fn raw_args(tokens: TokenStream) -> syn::Result<Vec<RawArg>> {
    let exprs = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tokens)?;
    Ok(exprs
        .into_iter()
        .map(|e| match e {
            Expr::Assign(a) => match &*a.left {
                Expr::Path(p) if p.attrs.is_empty() && p.qself.is_none() => {
                    match p.path.get_ident() {
                        Some(name) => RawArg::Named {
                            name: name.clone(),
                            value: *a.right,
                        },
                        None => RawArg::Other(Expr::Assign(a)),
                    }
                }
                _ => RawArg::Other(Expr::Assign(a)),
            },
            Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                match p.path.get_ident() {
                    Some(name) => RawArg::Flag(name.clone()),
                    None => RawArg::Other(Expr::Path(p)),
                }
            }
            other => RawArg::Other(other),
        })
        .collect())
}

/// Tracks names already given, to report duplicates.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    fn first(&mut self, name: &Ident, errors: &mut Errors) -> bool {
        let s = name.to_string();
        if self.0.contains(&s) {
            errors.spanned(
                name,
                format!("duplicate argument `{s}`: it is already given earlier in this attribute; keep one"),
            );
            false
        } else {
            self.0.push(s);
            true
        }
    }
}

fn unknown(name: &Ident, attr: &str, known: &[&str], errors: &mut Errors) {
    let s = name.to_string();
    let hint = match did_you_mean(&s, known) {
        Some(m) => format!("did you mean `{m}`? "),
        None => String::new(),
    };
    errors.spanned(
        name,
        format!(
            "unknown argument `{s}` for {attr}: {hint}the arguments are {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
}

fn lit_str(value: &Expr) -> Option<&LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => None,
    }
}

/// A string argument: `name = "..."`; anything else is reported with an example.
fn expect_str<'a>(
    name: &Ident,
    value: &'a Expr,
    example: &str,
    errors: &mut Errors,
) -> Option<&'a LitStr> {
    let s = lit_str(value);
    if s.is_none() {
        errors.spanned(
            value,
            format!("`{name}` takes a string literal: `{name} = \"{example}\"`"),
        );
    }
    s
}

/// A list of string literals: `tags = ["a", "b:<x>"]`.
fn expect_str_list<'a>(name: &Ident, value: &'a Expr, errors: &mut Errors) -> Vec<&'a LitStr> {
    match value {
        Expr::Array(a) => a
            .elems
            .iter()
            .filter_map(|e| {
                let s = lit_str(e);
                if s.is_none() {
                    errors.spanned(
                        e,
                        format!("each of `{name}` is a string template, e.g. \"category:<cat>\""),
                    );
                }
                s
            })
            .collect(),
        _ => {
            let example = lit_str(value).map_or_else(|| "catalog".to_owned(), LitStr::value);
            errors.spanned(
                value,
                format!("`{name}` takes a list of string templates: `{name} = [\"{example}\"]`"),
            );
            Vec::new()
        }
    }
}

fn parse_duration(name: &Ident, value: &Expr, errors: &mut Errors) -> Option<DurationArg> {
    let Some(lit) = lit_str(value) else {
        if let Expr::Lit(ExprLit {
            lit: Lit::Int(_) | Lit::Float(_),
            ..
        }) = value
        {
            // A bare number has no unit: say which one to write.
            let example = match value {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(i), ..
                }) if i.suffix().is_empty() => format!("{}s", i.base10_digits()),
                Expr::Lit(ExprLit {
                    lit: Lit::Int(i), ..
                }) => format!("{}{}", i.base10_digits(), i.suffix()),
                _ => "5m".to_owned(),
            };
            errors.spanned(
                value,
                format!("`{name}` takes a duration string or a `Duration`: `{name} = \"{example}\"` (humantime syntax: \"30s\", \"5m\", \"1h30m\"), or `{name} = Duration::from_secs(..)`"),
            );
            return None;
        }
        // Any other expression is a `Duration` computed at run time (type-checked there).
        return Some(DurationArg {
            name: name.clone(),
            written: value.clone(),
            value: None,
        });
    };
    match humantime::parse_duration(&lit.value()) {
        Ok(parsed) if parsed.is_zero() => {
            let why = if name == "ttl" {
                "a zero `ttl` would expire every value as soon as it is stored"
            } else {
                "a zero duration has no effect"
            };
            errors.spanned(
                lit,
                format!("`{name} = \"{}\"` is zero: {why}; give a positive duration such as \"30s\", or remove `{name}`", lit.value()),
            );
            None
        }
        Ok(parsed) => Some(DurationArg {
            name: name.clone(),
            written: value.clone(),
            value: Some(parsed),
        }),
        Err(e) => {
            let text = lit.value();
            let problem = match e {
                humantime::DurationError::NumberExpected(at) => {
                    format!(
                        "expected a number at \"{}\"",
                        text.get(at..).unwrap_or_default()
                    )
                }
                humantime::DurationError::InvalidCharacter(at) => format!(
                    "unexpected character at \"{}\"",
                    text.get(at..).unwrap_or_default()
                ),
                other => other.to_string(),
            };
            errors.spanned(
                lit,
                format!(
                    "invalid duration \"{text}\" for `{name}`: {problem}; write numbers with units, such as \"30s\", \"5m\", \"1h30m\" or \"500ms\""
                ),
            );
            None
        }
    }
}

fn flag(name: &Ident, value: Option<&Expr>, errors: &mut Errors) -> Option<Ident> {
    if let Some(v) = value {
        errors.spanned(
            v,
            format!("`{name}` is a flag and takes no value: write `{name}` alone (leave it out to turn it off)"),
        );
        return None;
    }
    Some(name.clone())
}

fn needs_value(name: &Ident, example: &str, errors: &mut Errors) {
    errors.spanned(
        name,
        format!("`{name}` needs a value: `{name} = {example}`"),
    );
}

impl CachedArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> CachedArgs {
        let mut args = CachedArgs::default();
        let Some(raw) = errors.take(raw_args(tokens)) else {
            return args;
        };
        let mut seen = Seen::default();
        for arg in raw {
            let (name, value) = match arg {
                RawArg::Named { name, value } => (name, Some(value)),
                RawArg::Flag(name) => (name, None),
                RawArg::Other(expr) => {
                    errors.spanned(
                        &expr,
                        "expected `name = value` or a flag, e.g. `#[cached(key = \"product:<id>\", ttl = \"5m\", l2)]`",
                    );
                    continue;
                }
            };
            let key = name.to_string();
            if !CACHED_ARGS.contains(&key.as_str()) {
                unknown(&name, "#[cached]", CACHED_ARGS, errors);
                continue;
            }
            if !seen.first(&name, errors) {
                continue;
            }
            args.set(&key, &name, value, errors);
        }
        args
    }

    fn set(&mut self, key: &str, name: &Ident, value: Option<Expr>, errors: &mut Errors) {
        if matches!(key, "l2" | "lock" | "compress") {
            let f = flag(name, value.as_ref(), errors);
            match key {
                "l2" => self.l2 = f,
                "lock" => self.lock = f,
                _ => self.compress = f,
            }
            return;
        }
        let Some(value) = value else {
            let example = match key {
                "key" => "\"product:<id>\"",
                "tags" => "[\"catalog\"]",
                "codec" => "\"json\"",
                "version" => "2",
                "condition" => "id > 0",
                "unless" => "|v| v.is_empty()",
                "ttl_from" => "|v| v.max_age",
                "weigh" => "|v| v.len()",
                "cache" => "self.cache",
                "l1_ttl" | "jitter" | "timeout" => "\"30s\"",
                _ => "\"5m\"",
            };
            needs_value(name, example, errors);
            return;
        };
        match key {
            "key" => {
                if let Some(lit) = expect_str(name, &value, "product:<id>", errors) {
                    self.key = Template::parse(lit, "key", errors);
                }
            }
            "tags" => {
                self.tags = expect_str_list(name, &value, errors)
                    .into_iter()
                    .filter_map(|lit| Template::parse(lit, "tag", errors))
                    .collect();
            }
            "codec" => {
                if let Some(lit) = expect_str(name, &value, "json", errors) {
                    self.codec = parse_codec(lit, errors);
                }
            }
            "version" => self.version = parse_version(name, &value, errors),
            "condition" => self.condition = Some(value),
            "unless" => self.unless = Some(value),
            "ttl_from" => self.ttl_from = Some(value),
            "weigh" => self.weigh = Some(value),
            "cache" => self.cache = Some(value),
            _ => {
                let d = parse_duration(name, &value, errors);
                let slot = match key {
                    "ttl" => &mut self.ttl,
                    "l1_ttl" => &mut self.l1_ttl,
                    "stale" => &mut self.stale,
                    "refresh" => &mut self.refresh,
                    "timeout" => &mut self.timeout,
                    "cache_none" => &mut self.cache_none,
                    _ => &mut self.jitter,
                };
                *slot = d;
            }
        }
    }

    /// Parses `#[cached_impl(...)]`: the arguments that make sense for every method. Those that
    /// are about one method's parameters or value (`key`, `condition`, `unless`, `ttl_from`,
    /// `weigh`) are refused.
    pub(crate) fn parse_defaults(tokens: TokenStream, errors: &mut Errors) -> CachedArgs {
        let mut args = CachedArgs::parse(tokens, errors);
        let given: [(&str, Option<TokenStream>); 5] = [
            ("key", args.key.as_ref().map(|t| t.lit.to_token_stream())),
            (
                "condition",
                args.condition.as_ref().map(ToTokens::to_token_stream),
            ),
            (
                "unless",
                args.unless.as_ref().map(ToTokens::to_token_stream),
            ),
            (
                "ttl_from",
                args.ttl_from.as_ref().map(ToTokens::to_token_stream),
            ),
            ("weigh", args.weigh.as_ref().map(ToTokens::to_token_stream)),
        ];
        for (name, tokens) in given {
            if let Some(tokens) = tokens {
                errors.spanned(
                    tokens,
                    format!("`{name}` is about one method's parameters or value, so it cannot be a default of #[cached_impl]: give it in that method's `#[cached({name} = ...)]`"),
                );
            }
        }
        args.key = None;
        args.condition = None;
        args.unless = None;
        args.ttl_from = None;
        args.weigh = None;
        args
    }

    /// These arguments, with `defaults` (from `#[cached_impl]`) for those not given.
    pub(crate) fn or_defaults(self, defaults: &CachedArgs) -> CachedArgs {
        let d = defaults.clone();
        CachedArgs {
            key: self.key,
            ttl: self.ttl.or(d.ttl),
            l1_ttl: self.l1_ttl.or(d.l1_ttl),
            stale: self.stale.or(d.stale),
            refresh: self.refresh.or(d.refresh),
            timeout: self.timeout.or(d.timeout),
            cache_none: self.cache_none.or(d.cache_none),
            jitter: self.jitter.or(d.jitter),
            l2: self.l2.or(d.l2),
            lock: self.lock.or(d.lock),
            compress: self.compress.or(d.compress),
            version: self.version.or(d.version),
            tags: if self.tags.is_empty() {
                d.tags
            } else {
                self.tags
            },
            codec: self.codec.or(d.codec),
            condition: self.condition,
            unless: self.unless,
            ttl_from: self.ttl_from,
            weigh: self.weigh,
            cache: self.cache.or(d.cache),
        }
    }

    /// The durations that were given, in the order `EntryOptions` documents them.
    pub(crate) fn durations(&self) -> impl Iterator<Item = &DurationArg> {
        [
            &self.ttl,
            &self.l1_ttl,
            &self.stale,
            &self.refresh,
            &self.timeout,
            &self.cache_none,
            &self.jitter,
        ]
        .into_iter()
        .flatten()
    }
}

/// `version = 2`: a `u32` literal, mixed into the L2 fingerprint.
fn parse_version(name: &Ident, value: &Expr, errors: &mut Errors) -> Option<syn::LitInt> {
    let lit = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) if lit.base10_parse::<u32>().is_ok() => lit,
        _ => {
            errors.spanned(
                value,
                format!("`{name}` takes a whole number from 0 to 4294967295: `{name} = 2`"),
            );
            return None;
        }
    };
    Some(lit.clone())
}

fn parse_codec(lit: &LitStr, errors: &mut Errors) -> Option<CodecArg> {
    let value = lit.value();
    if let Some((_, variant)) = CODECS.iter().find(|(name, _)| *name == value) {
        return Some(CodecArg {
            lit: lit.clone(),
            variant,
        });
    }
    let names: Vec<&str> = CODECS.iter().map(|(n, _)| *n).collect();
    let hint = match did_you_mean(&value, &names) {
        Some(m) => format!("did you mean \"{m}\"? "),
        None => String::new(),
    };
    errors.spanned(
        lit,
        format!(
            "unknown codec \"{value}\": {hint}the codecs are \"json\", \"bincode\" and \"msgpack\" (for another format, implement `layercache::CustomCodec` and set it on the cache)"
        ),
    );
    None
}

impl InvalidatesArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> InvalidatesArgs {
        let mut args = InvalidatesArgs::default();
        let Some(raw) = errors.take(raw_args(tokens)) else {
            return args;
        };
        let mut seen = Seen::default();
        for arg in raw {
            match arg {
                RawArg::Other(expr) => match expr {
                    Expr::Call(_) | Expr::MethodCall(_) => args.targets.push(expr),
                    Expr::Path(ref p) => {
                        args.rejected_target = true;
                        let name = p
                            .path
                            .segments
                            .last()
                            .map_or_else(|| "f".to_owned(), |s| s.ident.to_string());
                        errors.spanned(
                            &expr,
                            format!("`{}` needs the arguments that select the entry, as in a call: `{name}(id)`", crate::errors::code(&expr)),
                        );
                    }
                    other => {
                        args.rejected_target = true;
                        errors.spanned(
                        &other,
                        "expected a call of a `#[cached]` function like `get_product(id)`, or `key = \"...\"`, `tags = [...]`, `cache = ...`, `before`",
                    );
                    }
                },
                RawArg::Flag(name) if name == "before" => {
                    if seen.first(&name, errors) {
                        args.before = Some(name);
                    }
                }
                RawArg::Flag(name) => {
                    if INVALIDATES_ARGS.contains(&name.to_string().as_str()) {
                        let example = match name.to_string().as_str() {
                            "key" => "\"product:<id>\"",
                            "tags" => "[\"catalog\"]",
                            _ => "self.cache",
                        };
                        needs_value(&name, example, errors);
                    } else {
                        args.rejected_target = true;
                        errors.spanned(
                            &name,
                            format!("`{name}` needs the arguments that select the entry, as in a call: `{name}(id)`"),
                        );
                    }
                }
                RawArg::Named { name, value } => {
                    let key = name.to_string();
                    if !INVALIDATES_ARGS.contains(&key.as_str()) {
                        unknown(&name, "#[invalidates]", INVALIDATES_ARGS, errors);
                        continue;
                    }
                    if !seen.first(&name, errors) {
                        continue;
                    }
                    match key.as_str() {
                        "key" => {
                            let lits = match &value {
                                Expr::Array(_) => expect_str_list(&name, &value, errors),
                                _ => expect_str(&name, &value, "product:<id>", errors)
                                    .into_iter()
                                    .collect(),
                            };
                            args.keys = lits
                                .into_iter()
                                .filter_map(|lit| Template::parse(lit, "key", errors))
                                .collect();
                        }
                        "tags" => {
                            args.tags = expect_str_list(&name, &value, errors)
                                .into_iter()
                                .filter_map(|lit| Template::parse(lit, "tag", errors))
                                .collect();
                        }
                        "cache" => args.cache = Some(value),
                        _ => {
                            flag(&name, Some(&value), errors);
                        }
                    }
                }
            }
        }
        args
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.keys.is_empty() && self.tags.is_empty()
    }
}
