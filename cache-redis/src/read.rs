//! Reading a record without ever holding more than the size limit in memory.
//!
//! A plain `GET` hands back whatever is stored, so a huge value planted under a cache key (by a
//! bug elsewhere, or on purpose) would cross the wire and sit in memory before any size check.
//! A read is therefore a `GETRANGE` of the first [`FIRST_READ`] bytes + 1 (never more than the
//! limit + 1), one plain command with no script for the server to run: a record that fits is read
//! whole. Only a longer one is read again with [`BOUNDED_GET`], which checks its length on the
//! server in the same round trip.

use cache_core::L2Error;
use redis::{Cmd, Value};

use crate::error::unreadable_reply;
use crate::keys::KeySpace;

/// Records up to this long (header included) are read by one `GETRANGE`; longer ones take a
/// second round trip through [`BOUNDED_GET`].
pub(crate) const FIRST_READ: usize = 16 * 1024;

/// Longest record header (`V`, 16 digits, `:`, 16 digits, `:`; see `record.rs`): an oversized
/// record's header still says its version.
pub(crate) const HEADER_LEN: usize = 35;

/// Returns the record under `KEYS[1]` when it is at most `ARGV[1]` bytes long; otherwise its
/// length and its first `ARGV[2]` + 1 bytes (the header), never the value.
pub(crate) const BOUNDED_GET: &str = r"
local len = redis.call('STRLEN', KEYS[1])
if len > tonumber(ARGV[1]) then
  return {len, redis.call('GETRANGE', KEYS[1], 0, ARGV[2])}
end
return redis.call('GET', KEYS[1])";

/// What [`BOUNDED_GET`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    Missing,
    Record(Vec<u8>),
    /// Over the limit: its length and header only.
    Oversized {
        len: u64,
        header: Vec<u8>,
    },
}

/// The largest record (header included) read for a value limit of `max_value_size` bytes.
pub(crate) fn record_limit(max_value_size: usize) -> usize {
    max_value_size.saturating_add(HEADER_LEN)
}

/// The inclusive end offset of the first read (`GETRANGE key 0 end`) under record limit
/// `limit`: [`FIRST_READ`] or the limit, whichever is smaller. It returns `end + 1` bytes only
/// for a longer record.
pub(crate) fn first_read_end(limit: usize) -> usize {
    FIRST_READ.min(limit)
}

/// The first read of cache key `key`'s record: `GETRANGE <data key> 0 <end>`, built in place
/// (the data key is written straight into the command, and each buffer is allocated once).
pub(crate) fn first_read_cmd(space: &KeySpace, key: &str, end: usize) -> Cmd {
    let prefix = space.data_prefix();
    // Name, key, "0" and up to 20 digits.
    let mut cmd = Cmd::with_capacity(4, "GETRANGE".len() + prefix.len() + key.len() + 1 + 20);
    cmd.arg("GETRANGE")
        .arg(DataKey { prefix, key })
        .arg(0)
        .arg(end);
    cmd
}

/// A data key written as one argument from its two parts, with no `String` in between.
struct DataKey<'a> {
    prefix: &'a str,
    key: &'a str,
}

impl redis::ToRedisArgs for DataKey<'_> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        use std::io::Write;
        let mut arg = out.writer_for_next_arg();
        // Writing into the command's own buffer cannot fail.
        let _ = arg.write_all(self.prefix.as_bytes());
        let _ = arg.write_all(self.key.as_bytes());
    }
}

/// What the first read (up to `end`, see [`first_read_end`]) found: the record, when it is
/// whole (so within the limit); `None` when it is longer (read it with [`BOUNDED_GET`]).
pub(crate) fn first_read(reply: Value, end: usize) -> Result<Option<Stored>, L2Error> {
    match reply {
        // A missing key reads as empty (and no record of this layer is empty).
        Value::BulkString(bytes) if bytes.is_empty() => Ok(Some(Stored::Missing)),
        Value::BulkString(bytes) if bytes.len() <= end => Ok(Some(Stored::Record(bytes))),
        Value::BulkString(_) => Ok(None),
        Value::Nil => Ok(Some(Stored::Missing)),
        other => Err(unreadable_reply(format!("{other:?}"))),
    }
}

/// Reads [`BOUNDED_GET`]'s reply.
pub(crate) fn stored(reply: Value) -> Result<Stored, L2Error> {
    match reply {
        Value::Nil => Ok(Stored::Missing),
        Value::BulkString(bytes) => Ok(Stored::Record(bytes)),
        Value::Array(items) => match <[Value; 2]>::try_from(items) {
            Ok([Value::Int(len), Value::BulkString(header)]) => Ok(Stored::Oversized {
                len: u64::try_from(len).unwrap_or(0),
                header,
            }),
            Ok(other) => Err(unreadable_reply(format!("{other:?}"))),
            Err(items) => Err(unreadable_reply(format!("{} items", items.len()))),
        },
        other => Err(unreadable_reply(format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_read_is_getrange_of_the_data_key() {
        let space = KeySpace::new("shop");
        let built = first_read_cmd(&space, "product:7", 16_384);
        let mut plain = redis::cmd("GETRANGE");
        plain.arg(space.data_key("product:7")).arg(0).arg(16_384);
        assert_eq!(built.get_packed_command(), plain.get_packed_command());
    }

    #[test]
    fn a_first_read_is_whole_missing_or_too_short() {
        let end = first_read_end(record_limit(1 << 20));
        assert_eq!(end, FIRST_READ);
        assert_eq!(first_read_end(100), 100, "never past the limit");
        assert_eq!(
            first_read(Value::BulkString(Vec::new()), end).unwrap(),
            Some(Stored::Missing)
        );
        assert_eq!(first_read(Value::Nil, end).unwrap(), Some(Stored::Missing));
        let fits = vec![b'V'; end];
        assert_eq!(
            first_read(Value::BulkString(fits.clone()), end).unwrap(),
            Some(Stored::Record(fits))
        );
        // `GETRANGE 0 end` returns end + 1 bytes only for a longer record.
        assert_eq!(
            first_read(Value::BulkString(vec![b'V'; end + 1]), end).unwrap(),
            None
        );
        assert!(matches!(
            first_read(Value::Int(1), end),
            Err(L2Error::Refused(_))
        ));
    }

    #[test]
    fn replies_are_records_misses_or_oversized_headers() {
        assert_eq!(stored(Value::Nil).unwrap(), Stored::Missing);
        assert_eq!(
            stored(Value::BulkString(b"V1:x".to_vec())).unwrap(),
            Stored::Record(b"V1:x".to_vec())
        );
        assert_eq!(
            stored(Value::Array(vec![
                Value::Int(70_000_000),
                Value::BulkString(b"V3:LC".to_vec())
            ]))
            .unwrap(),
            Stored::Oversized {
                len: 70_000_000,
                header: b"V3:LC".to_vec()
            }
        );
        assert!(matches!(
            stored(Value::Array(vec![Value::Int(1)])),
            Err(L2Error::Refused(_))
        ));
        assert!(matches!(stored(Value::Int(1)), Err(L2Error::Refused(_))));
    }
}
