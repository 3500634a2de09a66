//! Reading a record without ever holding more than the size limit in memory.
//!
//! A plain `GET` hands back whatever is stored, so a huge value planted under a cache key (by a
//! bug elsewhere, or on purpose) would cross the wire and sit in memory before any size check.
//! [`BOUNDED_GET`] checks the length on the server, in the same round trip.

use cache_core::L2Error;
use redis::Value;

use crate::error::unreadable_reply;

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
