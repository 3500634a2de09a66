//! Key building: the [`KeyPart`] trait and the injective renderer.
//!
//! A key is the rendered template; the cache's namespace is not part of it (the L2 applies it, see
//! [`L2`](crate::L2)), except in the length rule, which bounds the key as stored. A value renders as itself when it is
//! non-empty and made only of *plain* characters (`A-Z a-z 0-9 _ . -`); any other value renders as
//! `%` followed by its percent-encoding, so it contains no separator of the template. Because plain
//! text never starts with `%`, and an escaped value is made of plain characters and `%XX` only, two
//! different argument tuples can never render to the same key as long as neighbouring placeholders
//! are separated by literal text holding a non-plain character (the `#[cached]` macro checks this).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::key_text::KeyText;

/// The default longest key, in bytes, before it is replaced by a prefix plus a hash.
pub const DEFAULT_MAX_KEY_LEN: usize = 1024;

/// Length of the hash suffix that replaces the tail of an over-long key: `#` and 64 hex digits.
const HASH_SUFFIX_LEN: usize = 65;

/// Written in place of `None`: `!` never appears in an escaped value, so it is distinct from
/// every rendering of a `Some`.
const NONE_MARKER: &str = "%!";

/// Whether `b` may appear in a value that renders as itself.
#[inline]
fn is_plain(b: u8) -> bool {
    PLAIN[usize::from(b)]
}

/// [`is_plain`] as a table: one load per byte of a rendered value.
static PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-');
        b += 1;
    }
    table
};

/// Whether `c` separates placeholders safely: any character a value cannot render to unescaped.
pub fn is_separator(c: char) -> bool {
    !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '%'))
}

/// A value that can be interpolated into a cache key.
///
/// Implemented for integers, `bool`, `char`, strings, references, `Option<T>`, and `uuid::Uuid`
/// (feature `uuid`). Implement it for your own types by writing a text that identifies the value;
/// escaping is done by the renderer, so any text is safe.
///
/// ```
/// use layercache::{KeyPart, KeyPartWriter};
/// struct Sku { vendor: u32, code: String }
/// impl KeyPart for Sku {
///     fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
///         out.write_display(&self.vendor);
///         out.write_str("/");
///         out.write_str(&self.code);
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key",
    label = "does not implement `KeyPart`",
    note = "implement `layercache::KeyPart` for it, interpolate one of its fields (`<param.field>`), or give the function an explicit `key = \"…\"` that leaves it out"
)]
pub trait KeyPart {
    /// Writes the text of this value.
    fn write_key_part(&self, out: &mut KeyPartWriter<'_>);

    /// Whether the text is always plain (an integer's digits), so the renderer need not check it
    /// for characters to escape. `false` is always correct.
    #[doc(hidden)]
    #[inline]
    fn renders_plain(&self) -> bool {
        false
    }
}

/// Receives the text of one [`KeyPart`]; the renderer escapes it afterwards.
pub struct KeyPartWriter<'a> {
    buf: &'a mut KeyText,
    is_none: bool,
}

impl KeyPartWriter<'_> {
    /// Appends text to the value.
    #[inline]
    pub fn write_str(&mut self, s: &str) {
        self.buf.push(s.as_bytes());
    }

    /// Appends the `Display` form of `v` to the value.
    pub fn write_display(&mut self, v: &dyn std::fmt::Display) {
        // Writing into a KeyText cannot fail.
        let _ = write!(self.buf, "{v}");
    }

    /// Marks the value as absent (`None`).
    pub fn write_none(&mut self) {
        self.is_none = true;
    }
}

macro_rules! key_part_display {
    ($($t:ty),*) => {$(
        impl KeyPart for $t {
            fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
                out.write_display(self);
            }
        }
    )*};
}
key_part_display!(bool, char);

macro_rules! key_part_integer {
    ($($t:ty),*) => {$(
        impl KeyPart for $t {
            #[inline]
            fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
                out.write_str(itoa::Buffer::new().format(*self));
            }

            /// Digits and `-`: always plain.
            #[inline]
            fn renders_plain(&self) -> bool {
                true
            }
        }
    )*};
}
key_part_integer!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

impl KeyPart for str {
    fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
        out.write_str(self);
    }
}

impl KeyPart for String {
    fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
        out.write_str(self);
    }
}

impl KeyPart for std::borrow::Cow<'_, str> {
    fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
        out.write_str(self);
    }
}

impl<T: KeyPart + ?Sized> KeyPart for &T {
    #[inline]
    fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
        (**self).write_key_part(out);
    }

    #[inline]
    fn renders_plain(&self) -> bool {
        (**self).renders_plain()
    }
}

impl<T: KeyPart + ?Sized> KeyPart for &mut T {
    #[inline]
    fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
        (**self).write_key_part(out);
    }

    #[inline]
    fn renders_plain(&self) -> bool {
        (**self).renders_plain()
    }
}

impl<T: KeyPart + ?Sized> KeyPart for Box<T> {
    #[inline]
    fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
        (**self).write_key_part(out);
    }

    #[inline]
    fn renders_plain(&self) -> bool {
        (**self).renders_plain()
    }
}

impl<T: KeyPart + ?Sized> KeyPart for std::sync::Arc<T> {
    #[inline]
    fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
        (**self).write_key_part(out);
    }

    #[inline]
    fn renders_plain(&self) -> bool {
        (**self).renders_plain()
    }
}

/// `None` renders as `%!`, `Some(v)` as `v`. (A nested `Some(None)` renders like `None`.)
impl<T: KeyPart> KeyPart for Option<T> {
    #[inline]
    fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
        match self {
            Some(v) => v.write_key_part(out),
            None => out.write_none(),
        }
    }

    #[inline]
    fn renders_plain(&self) -> bool {
        self.as_ref().is_some_and(T::renders_plain)
    }
}

#[cfg(feature = "uuid")]
impl KeyPart for uuid::Uuid {
    fn write_key_part(&self, out: &mut KeyPartWriter<'_>) {
        out.write_display(&self.hyphenated());
    }
}

/// A finished key: the rendered template without the namespace (one cache, one namespace: the L2
/// adds it when it stores the key), hashed when the key as stored would be longer than the limit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key's text, without the namespace: the L1 key, what [`L2`](crate::L2) methods receive,
    /// what `Cache::invalidate` takes.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Builds a key from literal text, applying the length rule to it as stored under
    /// `namespace`.
    pub fn literal(namespace: &str, key: &str, max_len: usize) -> CacheKey {
        CacheKey(bound_key_len(namespace, key.to_owned(), max_len))
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CacheKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for CacheKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Renders a key or tag template: literal text and escaped [`KeyPart`] values. The text stays on
/// the stack up to a length most keys never reach, so an L1 hit renders its key without
/// allocating; [`as_bytes`](Self::as_bytes) is what L1 is looked up by.
///
/// ```
/// use layercache::__private::KeyBuilder; // internal: what `#[cached]` renders keys with
/// let mut b = KeyBuilder::bare(16);
/// b.literal("product:").part(&7u64);
/// assert_eq!(b.finish("shop", 1024).as_str(), "product:7");
///
/// let mut b = KeyBuilder::bare(16);
/// b.literal("user:").part("a:b");
/// assert_eq!(b.finish_string(), "user:%a%3Ab");
/// ```
#[derive(Debug, Clone)]
pub struct KeyBuilder {
    text: KeyText,
}

impl Default for KeyBuilder {
    fn default() -> Self {
        KeyBuilder::new()
    }
}

impl KeyBuilder {
    /// An empty key or tag, on the stack (neither holds the namespace).
    #[inline]
    pub fn new() -> Self {
        KeyBuilder {
            text: KeyText::new(),
        }
    }

    /// Starts a key or a tag (neither holds the namespace), with room for `capacity_hint` bytes.
    pub fn bare(capacity_hint: usize) -> Self {
        KeyBuilder {
            text: KeyText::with_capacity(capacity_hint),
        }
    }

    /// Appends literal template text, unescaped.
    #[inline]
    pub fn literal(&mut self, s: &str) -> &mut Self {
        self.text.push(s.as_bytes());
        self
    }

    /// Appends one interpolated value, escaped when it could be confused with a separator.
    #[inline]
    pub fn part<P: KeyPart + ?Sized>(&mut self, value: &P) -> &mut Self {
        let start = self.text.len();
        let mut w = KeyPartWriter {
            buf: &mut self.text,
            is_none: false,
        };
        value.write_key_part(&mut w);
        if w.is_none {
            self.text.truncate(start);
            self.text.push(NONE_MARKER.as_bytes());
            return self;
        }
        if value.renders_plain() && self.text.len() > start {
            return self;
        }
        let written = &self.text.as_bytes()[start..];
        if written.is_empty() || !written.iter().all(|&b| is_plain(b)) {
            self.escape_from(start);
        }
        self
    }

    /// Rewrites the value from `start` on in place as `%` and its percent-encoding: plain bytes
    /// stay, any other becomes `%XX`. Walks backwards, so no byte is overwritten before it is read.
    #[cold]
    fn escape_from(&mut self, start: usize) {
        let raw_len = self.text.len() - start;
        let escaped = self.text.as_bytes()[start..]
            .iter()
            .filter(|&&b| !is_plain(b))
            .count();
        let new_len = start + 1 + raw_len + 2 * escaped;
        let bytes = self.text.grow_to(new_len);
        let mut to = new_len;
        for from in (start..start + raw_len).rev() {
            let b = bytes[from];
            if is_plain(b) {
                to -= 1;
                bytes[to] = b;
            } else {
                to -= 3;
                bytes[to..to + 3].copy_from_slice(&[
                    b'%',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ]);
            }
        }
        bytes[start] = b'%';
    }

    /// The text so far: what L1 is looked up by once [`bound`](Self::bound) applied the length
    /// rule.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// Applies the key-length rule in place (see [`bound_key_len`]) for a cache in
    /// `namespace`: nothing to do for a key of at most `max_len` bytes as stored.
    #[inline]
    pub fn bound(&mut self, namespace: &str, max_len: usize) -> &mut Self {
        let prefix = if namespace.is_empty() {
            0
        } else {
            namespace.len() + 1
        };
        if prefix + self.text.len() > max_len {
            self.bound_long(namespace, max_len);
        }
        self
    }

    #[cold]
    fn bound_long(&mut self, namespace: &str, max_len: usize) {
        let bounded = bound_key_len(namespace, self.text.to_string_lossless(), max_len);
        self.text.replace(bounded);
    }

    /// The key as rendered so far, owned (after [`bound`](Self::bound), the key L1 and L2 hold).
    pub fn to_key(&self) -> CacheKey {
        CacheKey(self.text.to_string_lossless())
    }

    /// Finishes a key of a cache in `namespace`, replacing the tail of a key that would be over
    /// `max_len` bytes as stored (`namespace:key`) by a SHA-256 hash of the whole stored key
    /// (never truncating, so two long keys cannot collide).
    pub fn finish(self, namespace: &str, max_len: usize) -> CacheKey {
        CacheKey(bound_key_len(
            namespace,
            self.text.to_string_lossless(),
            max_len,
        ))
    }

    /// Finishes a bare text (a tag), with no length rule.
    pub fn finish_string(self) -> String {
        self.text.to_string_lossless()
    }
}

/// Upper-case hex digits of the percent-encoding.
const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Applies the key-length rule to `key` as stored under `namespace` (`namespace:key`, or `key` for
/// the empty namespace): when that is over `max_len` bytes, `key` becomes a prefix and
/// `#sha256hex` of the whole stored text, so that the stored key is `max_len` bytes long.
pub fn bound_key_len(namespace: &str, key: String, max_len: usize) -> String {
    let prefix = if namespace.is_empty() {
        0
    } else {
        namespace.len() + 1
    };
    if prefix + key.len() <= max_len {
        return key;
    }
    let mut hasher = Sha256::new();
    if prefix > 0 {
        hasher.update(namespace.as_bytes());
        hasher.update(b":");
    }
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    let mut keep = max_len
        .saturating_sub(HASH_SUFFIX_LEN)
        .saturating_sub(prefix)
        .min(key.len());
    while !key.is_char_boundary(keep) {
        keep -= 1;
    }
    let mut out = String::with_capacity(keep + HASH_SUFFIX_LEN);
    out.push_str(&key[..keep]);
    out.push('#');
    for b in digest {
        // Writing into a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn render2(a: &str, b: &str) -> String {
        let mut k = KeyBuilder::bare(8);
        k.literal("t:").part(a).literal(":").part(b);
        k.finish("ns", usize::MAX).into_string()
    }

    #[test]
    fn plain_values_render_as_themselves() {
        let mut k = KeyBuilder::bare(8);
        k.literal("product:").part(&7u64).literal(":").part(&-3i32);
        assert_eq!(k.finish("shop:v1", 1024).as_str(), "product:7:-3");
    }

    #[test]
    fn values_with_separators_are_escaped_and_do_not_collide() {
        assert_ne!(render2("1:2", "3"), render2("1", "2:3"));
        assert_eq!(render2("1:2", "3"), "t:%1%3A2:3");
    }

    #[test]
    fn empty_and_none_and_percent_are_distinct() {
        let none: Option<&str> = None;
        let mut a = KeyBuilder::bare(4);
        a.part(&none);
        let mut b = KeyBuilder::bare(4);
        b.part(&Some(""));
        let mut c = KeyBuilder::bare(4);
        c.part("%");
        let (a, b, c) = (a.finish_string(), b.finish_string(), c.finish_string());
        assert_eq!(a, "%!");
        assert_eq!(b, "%");
        assert_eq!(c, "%%25");
        assert!(a != b && b != c && a != c);
    }

    #[test]
    fn newline_and_namespace_separator_cannot_escape_the_namespace() {
        let mut k = KeyBuilder::bare(8);
        k.literal("u:").part("x\nother-ns:admin");
        let key = k.finish("ns", 1024);
        assert!(!key.as_str().contains('\n'));
        assert_eq!(key.as_str().matches(':').count(), 1);
    }

    #[test]
    fn bounding_in_place_agrees_with_finish_at_the_limit() {
        // Stored as `ns:` + text: 1023, 1024 (kept), 1025, 1026 bytes (hashed), also without a
        // namespace; the random cases of `keys_bounded_in_place_match_finished_keys` rarely land
        // on the limit itself.
        for (ns, prefix) in [("ns", 3), ("", 0)] {
            for stored in 1023..=1026 {
                let text = "k".repeat(stored - prefix);
                let mut in_place = KeyBuilder::new();
                in_place.literal(&text).bound(ns, 1024);
                let expected = bound_key_len(ns, text.clone(), 1024);
                assert_eq!(
                    in_place.to_key().as_str(),
                    expected,
                    "{ns:?}, {stored} bytes"
                );
                assert_eq!(expected == text, stored <= 1024, "{ns:?}, {stored} bytes");
            }
        }
    }

    #[test]
    fn long_keys_are_hashed_not_truncated() {
        let a = bound_key_len("", "k".repeat(2000) + "a", 1024);
        let b = bound_key_len("", "k".repeat(2000) + "b", 1024);
        assert_eq!(a.len(), 1024);
        assert_ne!(a, b);
        assert_eq!(bound_key_len("ns", "short".into(), 1024), "short");
        // Multi-byte characters at the cut stay valid UTF-8.
        let c = bound_key_len("", "é".repeat(1000), 1024);
        assert!(c.len() <= 1024);
        // The namespace counts: the stored key `ns:…` is what is bounded.
        let d = bound_key_len("ns", "k".repeat(1021), 1024);
        assert_eq!(d.len(), 1021, "ns: + 1021 bytes fits");
        let e = bound_key_len("ns", "k".repeat(1022), 1024);
        assert_eq!(e.len() + "ns:".len(), 1024);
        assert_ne!(
            bound_key_len("a", "k".repeat(2000), 1024),
            bound_key_len("b", "k".repeat(2000), 1024)
        );
    }

    /// The rule before the namespace left the key: applied to the whole `ns:rest` text.
    fn bound_namespaced_text(key: String, max_len: usize) -> String {
        if key.len() <= max_len {
            return key;
        }
        let digest = Sha256::digest(key.as_bytes());
        let mut keep = max_len.saturating_sub(HASH_SUFFIX_LEN);
        while !key.is_char_boundary(keep) {
            keep -= 1;
        }
        let mut out = key[..keep].to_owned();
        out.push('#');
        for b in digest {
            let _ = write!(out, "{b:02x}");
        }
        out
    }

    #[test]
    fn long_keys_are_stored_as_before_the_namespace_left_the_key() {
        // Same stored key as when the key held `ns:` (no cold start for long keys on upgrade).
        for (ns, rest) in [
            ("shop:v1", "k".repeat(2000)),
            ("shop", "é".repeat(700)),
            ("", "x".repeat(1500)),
            ("ns", "y".repeat(1022)),
            ("ns", "y".repeat(1021)),
        ] {
            let stored_before = if ns.is_empty() {
                bound_namespaced_text(rest.clone(), 1024)
            } else {
                bound_namespaced_text(format!("{ns}:{rest}"), 1024)
            };
            let key = bound_key_len(ns, rest, 1024);
            let stored_now = if ns.is_empty() {
                key
            } else {
                format!("{ns}:{key}")
            };
            assert_eq!(stored_now, stored_before, "namespace {ns:?}");
        }
    }

    fn render<P: KeyPart + ?Sized>(value: &P) -> String {
        let mut k = KeyBuilder::bare(8);
        k.part(value);
        k.finish_string()
    }

    #[test]
    fn smart_pointers_and_cow_render_as_what_they_hold() {
        use std::borrow::Cow;
        use std::sync::Arc;
        let text = "a:b";
        let expected = render(text);
        assert_eq!(expected, "%a%3Ab");
        assert_eq!(render(&Arc::<str>::from(text)), expected);
        assert_eq!(render(&Box::<str>::from(text)), expected);
        assert_eq!(render(&Cow::Borrowed(text)), expected);
        assert_eq!(render(&Cow::<str>::Owned(text.to_string())), expected);
        assert_eq!(render(&text), expected, "through a reference");
        let mut owned = text.to_string();
        assert_eq!(render(&&mut owned), expected);
        assert_eq!(render(&Arc::new(7u64)), "7");
        assert_eq!(render(&Box::new(Some(-1i8))), "-1");
    }

    #[test]
    fn values_escaped_across_the_inline_buffer_render_as_short_ones_do() {
        // Escaping grows the text in place; here it crosses the stack buffer's end.
        for len in [1usize, 30, 39, 40, 41, 60, 119, 120, 121, 300] {
            let value = ":".repeat(len);
            let mut k = KeyBuilder::new();
            k.literal(&"p".repeat(80)).literal(":").part(value.as_str());
            let want = format!("{}:%{}", "p".repeat(80), "%3A".repeat(len));
            assert_eq!(k.as_bytes(), want.as_bytes(), "{len} colons");
            // A `None` after a spilled text truncates and marks it as on the stack.
            k.literal(":").part(&None::<u8>);
            assert_eq!(k.finish_string(), want + ":%!");
        }
    }

    /// `renders_plain` only lets the renderer skip its scan (`false` is always correct), so no
    /// rendering shows it; the hit path relies on it for integer key parts, also behind a pointer.
    #[test]
    fn integers_are_plain_also_behind_pointers_and_options() {
        use std::sync::Arc;
        fn plain<P: KeyPart + ?Sized>(value: &P) -> bool {
            value.renders_plain()
        }
        assert!(plain(&7u64) && plain(&-3i32));
        assert!(plain(&&7u64), "&T");
        assert!(plain(&&mut 7u64), "&mut T");
        assert!(plain(&Box::new(7u64)), "Box<T>");
        assert!(plain(&Arc::new(7u64)), "Arc<T>");
        assert!(plain(&Some(7u64)), "Some");
        assert!(!plain(&None::<u64>), "None renders as the marker");
        assert!(!plain("7") && !plain(&"7") && !plain(&Box::<str>::from("7")));
        assert!(!plain(&Some("7")) && !plain(&true));

        /// Claims to be plain but writes nothing: the empty value is still escaped.
        struct EmptyButPlain;
        impl KeyPart for EmptyButPlain {
            fn write_key_part(&self, _out: &mut KeyPartWriter<'_>) {}
            fn renders_plain(&self) -> bool {
                true
            }
        }
        assert_eq!(render(&EmptyButPlain), render(""), "empty renders as `%`");
        assert_eq!(render(""), "%");
    }

    #[test]
    fn bool_and_char_render_their_display_form() {
        assert_eq!(render(&true), "true");
        assert_eq!(render(&false), "false");
        assert_eq!(render(&'x'), "x");
        assert_eq!(render(&':'), "%%3A");
    }

    #[cfg(feature = "uuid")]
    #[test]
    fn uuid_renders_hyphenated() {
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(render(&id), "01234567-89ab-cdef-0123-456789abcdef");
    }

    #[test]
    fn separators_are_exactly_what_a_plain_value_cannot_contain() {
        for c in ['a', 'Z', '0', '9', '_', '.', '-', '%'] {
            assert!(!is_separator(c), "{c:?} may appear in a rendered value");
        }
        for c in [':', '/', '#', ' ', '|', '@', '\n', 'é'] {
            assert!(is_separator(c), "{c:?} never appears unescaped");
        }
        // Agrees with the renderer: every byte of a rendered value is a non-separator.
        for b in 0u8..=127 {
            let c = char::from(b);
            let rendered = render(c.to_string().as_str());
            assert!(
                rendered.chars().all(|r| !is_separator(r)),
                "{c:?} rendered as {rendered:?}"
            );
            assert_eq!(is_plain(b), !is_separator(c) && c != '%', "{c:?}");
        }
    }

    #[test]
    fn cache_key_shows_borrows_and_derefs_to_its_text() {
        use std::borrow::Borrow;
        let key = CacheKey::literal("ns", "product:7", 1024);
        assert_eq!(key.to_string(), "product:7");
        assert_eq!(AsRef::<str>::as_ref(&key), "product:7");
        assert_eq!(Borrow::<str>::borrow(&key), "product:7");
        let set: std::collections::HashSet<CacheKey> = [key.clone()].into();
        assert!(set.contains("product:7"), "looked up by &str");
        assert_eq!(key.into_string(), "product:7");
    }

    /// Decodes one rendered value back to its text (None for the `None` marker).
    fn unescape(s: &str) -> Option<String> {
        if s == NONE_MARKER {
            return None;
        }
        let Some(rest) = s.strip_prefix('%') else {
            return Some(s.to_string());
        };
        let bytes = rest.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        Some(String::from_utf8(out).unwrap())
    }

    proptest! {
        #[test]
        fn rendering_is_injective_for_pairs(a in ".*", b in ".*", c in ".*", d in ".*") {
            prop_assume!((a.clone(), b.clone()) != (c.clone(), d.clone()));
            prop_assert_ne!(render2(&a, &b), render2(&c, &d));
        }

        #[test]
        fn rendering_round_trips(v in any::<Option<String>>()) {
            let mut k = KeyBuilder::bare(8);
            k.part(&v);
            let s = k.finish_string();
            prop_assert!(!s.bytes().any(|b| b == b':' || b == b'\n'));
            prop_assert_eq!(unescape(&s), v);
        }

        #[test]
        fn integers_and_strings_agree_when_plain(n in any::<i64>()) {
            let mut a = KeyBuilder::bare(8);
            a.part(&n);
            let mut b = KeyBuilder::bare(8);
            b.part(n.to_string().as_str());
            prop_assert_eq!(a.finish_string(), b.finish_string());
        }

        /// The hit path's key (rendered on the stack, bounded in place) is the key a miss stores
        /// and `Cache::invalidate` / `#[invalidates]` remove, short or long, inline or spilled.
        #[test]
        fn keys_bounded_in_place_match_finished_keys(
            ns in "[a-z:]{0,12}",
            text in "[a-zé:]{0,300}",
            max_len in 70usize..400,
        ) {
            let mut in_place = KeyBuilder::new();
            in_place.literal(&text).bound(&ns, max_len);
            let mut finished = KeyBuilder::bare(8);
            finished.literal(&text);
            let finished = finished.finish(&ns, max_len);
            prop_assert_eq!(in_place.as_bytes(), finished.as_str().as_bytes());
            prop_assert_eq!(in_place.to_key(), finished.clone());
            prop_assert_eq!(CacheKey::literal(&ns, &text, max_len), finished);
        }

        #[test]
        fn long_keys_never_collide(a in "[a-z]{1100,1200}", b in "[a-z]{1100,1200}") {
            prop_assume!(a != b);
            prop_assert_ne!(bound_key_len("ns", a, 1024), bound_key_len("ns", b, 1024));
        }
    }
}
