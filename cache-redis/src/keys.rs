//! Where things live in Redis for one namespace.
//!
//! For namespace `ns` (cache keys arrive without it, as `rest`: the layer applies the namespace
//! it was attached under, once, and never parses a key):
//!
//! | what | Redis key | why |
//! |---|---|---|
//! | value of `rest` | `ns:@:rest` | one record per key whatever the generation (the record carries it) |
//! | lock for `rest` | `ns:@lock:rest` | outside generations: a clear must not free a held lock |
//! | generation | `{lc:ns}:gen` | `clear()` moves it: O(1) (see [`versions`](crate::versions)) |
//! | version of tag `t` | `{lc:ns}:tag:t` | one hash slot per namespace, so `MGET` works in Cluster |
//! | backplane channel | `{lc:ns}:bp` | |
//!
//! In the empty namespace a value is `@!rest` and a lock `@lock!rest` (the layout of the
//! releases whose cache keys held the namespace, kept so that an upgrade starts warm). In the `{lc:…}` hash tag the namespace has `%`, `{` and `}` percent-escaped: the tag
//! is never empty and always ends at our own `}`, whatever the namespace holds.

/// The Redis keys and channel of one namespace.
#[derive(Debug, Clone)]
pub(crate) struct KeySpace {
    namespace: String,
    /// What a value's Redis key starts with: `ns:@:`, or `@!` in the empty namespace.
    data_prefix: String,
    /// What a lock's Redis key starts with: `ns:@lock:`, or `@lock!` in the empty namespace.
    lock_prefix: String,
    generation_key: String,
    tag_prefix: String,
    channel: String,
}

impl KeySpace {
    pub(crate) fn new(namespace: &str) -> KeySpace {
        let (data_prefix, lock_prefix) = if namespace.is_empty() {
            ("@!".to_owned(), "@lock!".to_owned())
        } else {
            (format!("{namespace}:@:"), format!("{namespace}:@lock:"))
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
            data_prefix,
            lock_prefix,
            generation_key: format!("{slot}:gen"),
            tag_prefix: format!("{slot}:tag:"),
            channel: format!("{slot}:bp"),
        }
    }

    /// The namespace this key space belongs to.
    pub(crate) fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The Redis key holding the record (value, version, generation) of cache key `key` (a key
    /// without the namespace).
    pub(crate) fn data_key(&self, key: &str) -> String {
        prefixed(&self.data_prefix, key)
    }

    /// What the Redis key of every value starts with ([`data_key`](Self::data_key) is this and
    /// the cache key).
    pub(crate) fn data_prefix(&self) -> &str {
        &self.data_prefix
    }

    /// The Redis key of the distributed lock named after cache key `key`.
    pub(crate) fn lock_key(&self, key: &str) -> String {
        prefixed(&self.lock_prefix, key)
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

/// `prefix` then `key`, in one allocation.
fn prefixed(prefix: &str, key: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + key.len());
    out.push_str(prefix);
    out.push_str(key);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_keys_are_marked_after_the_namespace() {
        let s = KeySpace::new("shop:v1");
        assert_eq!(s.data_key("product:7"), "shop:v1:@:product:7");
        assert_eq!(s.lock_key("product:7"), "shop:v1:@lock:product:7");
        // A key is never parsed: one that looks namespaced is just a key.
        assert_eq!(s.data_key("shop:v1:x"), "shop:v1:@:shop:v1:x");
    }

    #[test]
    fn values_and_locks_cannot_collide() {
        for s in [KeySpace::new("ns"), KeySpace::new("")] {
            assert_ne!(s.data_key("a"), s.lock_key("a"));
            assert_ne!(s.data_key("lock:a"), s.lock_key("a"));
            assert_ne!(s.data_key("a"), s.data_key("b"));
        }
    }

    #[test]
    fn empty_namespace_still_marks_data_keys() {
        let s = KeySpace::new("");
        assert_eq!(s.data_key("k"), "@!k");
        assert_eq!(s.lock_key("k"), "@lock!k");
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
