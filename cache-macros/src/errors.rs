//! Collects every error of one macro call, so the user sees all mistakes in one compile.

use std::fmt::Display;

use proc_macro2::Span;
use quote::ToTokens;

/// Errors found so far, combined into one `syn::Error` (each keeps its own span).
///
/// Must end in [`finish`](Errors::finish): dropping it unfinished would lose the errors, so it
/// panics (a bug in the macro, caught by any test that reaches it), as serde_derive's `Ctxt` does.
#[derive(Default)]
pub(crate) struct Errors {
    all: Option<syn::Error>,
    finished: bool,
}

impl Drop for Errors {
    fn drop(&mut self) {
        if !self.finished && !std::thread::panicking() {
            panic!("layercache macros: errors collected but never reported (`Errors::finish` not called)");
        }
    }
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.all {
            Some(all) => all.combine(error),
            None => self.all = Some(error),
        }
    }

    /// An error at `span`.
    pub(crate) fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// An error covering all of `tokens`.
    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Takes over `result`'s error, if any, and returns its value.
    pub(crate) fn take<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    /// Ends the collection: `Err` with every error, combined, if there was one.
    pub(crate) fn finish(mut self) -> syn::Result<()> {
        self.finished = true;
        self.all.take().map_or(Ok(()), Err)
    }
}

/// Tokens as a reader would write them: `&mut u32`, `Cow<'_, str>` (not `& mut u32`).
pub(crate) fn code(tokens: impl ToTokens) -> String {
    let mut s = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        ("& ", "&"),
        (" ,", ","),
        (" :: ", "::"),
        (":: ", "::"),
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        (" .", "."),
        (". ", "."),
    ] {
        s = s.replace(from, to);
    }
    s
}

/// The closest of `candidates` to `word`, if it is a likely typo (Damerau–Levenshtein distance of at
/// most one edit per three characters, and at least one).
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "never reported")]
    fn dropping_unfinished_errors_is_a_bug() {
        let mut errors = Errors::default();
        errors.at(Span::call_site(), "lost");
    }

    #[test]
    fn finish_combines_every_error() {
        let mut errors = Errors::default();
        errors.at(Span::call_site(), "one");
        errors.at(Span::call_site(), "two");
        let all = errors.finish().err().map(|e| e.into_iter().count());
        assert_eq!(all, Some(2));
    }

    #[test]
    fn code_reads_like_source() {
        let ty: syn::Type = syn::parse_quote!(&'a mut std::borrow::Cow<'_, [u8]>);
        assert_eq!(code(&ty), "&'a mut std::borrow::Cow<'_, [u8]>");
        let e: syn::Expr = syn::parse_quote!(f(a.b, c));
        assert_eq!(code(&e), "f(a.b, c)");
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["ttl", "l1_ttl", "stale", "refresh", "cache_none"];
        assert_eq!(did_you_mean("tll", &names), Some("ttl"));
        assert_eq!(did_you_mean("stael", &names), Some("stale"));
        assert_eq!(did_you_mean("cache_nones", &names), Some("cache_none"));
        assert_eq!(did_you_mean("colour", &names), None);
    }
}
