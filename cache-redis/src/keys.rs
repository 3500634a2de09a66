//! Where things live in Redis for one namespace.
//!
//! For namespace `ns` (cache keys arrive as `ns:rest`):
//!
//! | what | Redis key | why |
//! |---|---|---|
//! | value of `ns:rest` | `ns:@<generation>:rest` | `clear()` moves to a new generation: O(1) |
//! | lock for `ns:rest` | `ns:@lock:rest` | outside generations: a clear must not free a held lock |
//! | generation counter | `{lc:ns}:gen` | |
//! | version of tag `t` | `{lc:ns}:tag:t` | one hash slot per namespace, so `MGET` works in Cluster |
//! | backplane channel | `{lc:ns}:bp` | |
//!
//! A key that does not start with `ns:` is stored as `ns:@<generation>!key`, so the mapping stays
//! injective. In the `{lc:…}` hash tag the namespace has `%`, `{` and `}` percent-escaped: the tag
//! is never empty and always ends at our own `}`, whatever the namespace holds.

use std::fmt::Write as _;

/// The Redis keys and channel of one namespace.
#[derive(Debug, Clone)]
pub(crate) struct KeySpace {
    namespace: String,
    /// `ns:`, or empty for the empty namespace.
    base: String,
    generation_key: String,
    tag_prefix: String,
    channel: String,
}

impl KeySpace {
    pub(crate) fn new(namespace: &str) -> KeySpace {
        let base = if namespace.is_empty() {
            String::new()
        } else {
            format!("{namespace}:")
        };
        let mut slot = String::with_capacity(namespace.len() + 5);
        slot.push_str("{lc:");
        for c in namespace.chars() {
            match c {
                '%' => slot.push_str("%25"),
                '{' => slot.push_str("%7B"),
                '}' => slot.push_str("%7D"),
                c => slot.push(c),
            }
        }
        slot.push('}');
        KeySpace {
            namespace: namespace.to_owned(),
            base,
            generation_key: format!("{slot}:gen"),
            tag_prefix: format!("{slot}:tag:"),
            channel: format!("{slot}:bp"),
        }
    }

    /// The namespace this key space belongs to.
    pub(crate) fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The Redis key holding the value of cache key `key` in `generation`.
    pub(crate) fn data_key(&self, key: &str, generation: u64) -> String {
        let mut out = String::with_capacity(key.len() + 24);
        out.push_str(&self.base);
        out.push('@');
        // Writing into a String cannot fail.
        let _ = write!(out, "{generation}");
        self.push_rest(&mut out, key);
        out
    }

    /// The Redis key of the distributed lock named `key`.
    pub(crate) fn lock_key(&self, key: &str) -> String {
        let mut out = String::with_capacity(key.len() + 8);
        out.push_str(&self.base);
        out.push_str("@lock");
        self.push_rest(&mut out, key);
        out
    }

    fn push_rest(&self, out: &mut String, key: &str) {
        match key.strip_prefix(self.base.as_str()) {
            Some(rest) if !self.base.is_empty() => {
                out.push(':');
                out.push_str(rest);
            }
            _ => {
                out.push('!');
                out.push_str(key);
            }
        }
    }

    /// The Redis key of tag `tag`'s version counter.
    pub(crate) fn tag_key(&self, tag: &str) -> String {
        let mut out = String::with_capacity(self.tag_prefix.len() + tag.len());
        out.push_str(&self.tag_prefix);
        out.push_str(tag);
        out
    }

    /// The Redis key of the namespace's generation counter.
    pub(crate) fn generation_key(&self) -> &str {
        &self.generation_key
    }

    /// The pub/sub channel of the namespace's backplane.
    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_keys_carry_the_generation_after_the_namespace() {
        let s = KeySpace::new("shop:v1");
        assert_eq!(s.data_key("shop:v1:product:7", 0), "shop:v1:@0:product:7");
        assert_eq!(s.data_key("shop:v1:product:7", 12), "shop:v1:@12:product:7");
        assert_eq!(s.data_key("other:x", 3), "shop:v1:@3!other:x");
        assert_eq!(s.lock_key("shop:v1:product:7"), "shop:v1:@lock:product:7");
    }

    #[test]
    fn foreign_keys_cannot_collide_with_own_keys() {
        let s = KeySpace::new("ns");
        // "ns:@1!x" as a key of the namespace vs "x" outside it.
        assert_ne!(s.data_key("ns:!x", 1), s.data_key("x", 1));
        assert_ne!(s.data_key("ns:a", 1), s.data_key("a", 1));
    }

    #[test]
    fn empty_namespace_still_separates_generations() {
        let s = KeySpace::new("");
        assert_eq!(s.data_key("k", 2), "@2!k");
        assert_eq!(s.generation_key(), "{lc:}:gen");
    }

    #[test]
    fn internal_keys_share_one_hash_tag_whatever_the_namespace() {
        let s = KeySpace::new("we}ird{ns%");
        assert_eq!(s.tag_key("catalog"), "{lc:we%7Dird%7Bns%25}:tag:catalog");
        assert_eq!(s.generation_key(), "{lc:we%7Dird%7Bns%25}:gen");
        assert_eq!(s.channel(), "{lc:we%7Dird%7Bns%25}:bp");
        assert_ne!(
            KeySpace::new("a}").tag_key("x"),
            KeySpace::new("a%7D").tag_key("x")
        );
    }
}
