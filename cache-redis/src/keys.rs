//! Where things live in Redis for one namespace.
//!
//! For namespace `ns` (cache keys arrive as `ns:rest`):
//!
//! | what | Redis key | why |
//! |---|---|---|
//! | value of `ns:rest` | `ns:@:rest` | one record per key whatever the generation (the record carries it) |
//! | lock for `ns:rest` | `ns:@lock:rest` | outside generations: a clear must not free a held lock |
//! | generation | `{lc:ns}:gen` | `clear()` moves it: O(1) (see [`versions`](crate::versions)) |
//! | version of tag `t` | `{lc:ns}:tag:t` | one hash slot per namespace, so `MGET` works in Cluster |
//! | backplane channel | `{lc:ns}:bp` | |
//!
//! A key that does not start with `ns:` is stored as `ns:@!key`, so the mapping stays
//! injective. In the `{lc:…}` hash tag the namespace has `%`, `{` and `}` percent-escaped: the tag
//! is never empty and always ends at our own `}`, whatever the namespace holds.

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

    /// The Redis key holding the record (value, version, generation) of cache key `key`.
    pub(crate) fn data_key(&self, key: &str) -> String {
        let mut out = String::with_capacity(key.len() + 8);
        out.push_str(&self.base);
        out.push('@');
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
    fn data_keys_are_marked_after_the_namespace() {
        let s = KeySpace::new("shop:v1");
        assert_eq!(s.data_key("shop:v1:product:7"), "shop:v1:@:product:7");
        assert_eq!(s.data_key("other:x"), "shop:v1:@!other:x");
        assert_eq!(s.lock_key("shop:v1:product:7"), "shop:v1:@lock:product:7");
    }

    #[test]
    fn foreign_keys_cannot_collide_with_own_keys() {
        let s = KeySpace::new("ns");
        // "ns:@!x" as a key of the namespace vs "x" outside it.
        assert_ne!(s.data_key("ns:!x"), s.data_key("x"));
        assert_ne!(s.data_key("ns:a"), s.data_key("a"));
        assert_ne!(s.data_key("ns:a"), s.lock_key("ns:a"));
    }

    #[test]
    fn empty_namespace_still_marks_data_keys() {
        let s = KeySpace::new("");
        assert_eq!(s.data_key("k"), "@!k");
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
