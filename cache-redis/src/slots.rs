//! Which part of a Redis Cluster serves a key, so the cache can keep one circuit breaker per
//! part: a dead or failing node turns L2 off only for the keys it serves.
//!
//! The parts are the slot ranges `CLUSTER SLOTS` reports at connect, one per master. A failover
//! keeps them (the replica takes over the same range); a later resharding makes them coarser or
//! finer than the nodes, never wrong: every key still maps to one breaker.

use redis::Value;

/// Slots in a Redis Cluster.
const SLOTS: u16 = 16384;

/// The slot ranges of a Cluster's masters, sorted; empty for one server (one part).
#[derive(Debug, Clone, Default)]
pub(crate) struct SlotRanges {
    /// First slot of each range, ascending.
    starts: Vec<u16>,
}

impl SlotRanges {
    /// The ranges of a `CLUSTER SLOTS` reply (`[[start, end, master, replicas…], …]`).
    pub(crate) fn from_reply(reply: &Value) -> SlotRanges {
        let Value::Array(ranges) = reply else {
            return SlotRanges::default();
        };
        let mut starts: Vec<u16> = ranges
            .iter()
            .filter_map(|range| match range {
                Value::Array(fields) => match fields.first() {
                    Some(Value::Int(start)) => u16::try_from(*start).ok(),
                    _ => None,
                },
                _ => None,
            })
            .filter(|start| *start < SLOTS)
            .collect();
        starts.sort_unstable();
        starts.dedup();
        SlotRanges { starts }
    }

    /// How many parts there are (at least 1).
    pub(crate) fn count(&self) -> usize {
        self.starts.len().max(1)
    }

    /// The part serving Redis key `key`.
    pub(crate) fn part_of(&self, key: &str) -> usize {
        if self.starts.is_empty() {
            return 0;
        }
        let slot = slot(key.as_bytes());
        self.starts
            .partition_point(|start| *start <= slot)
            .saturating_sub(1)
    }
}

/// The hash slot of `key`: CRC16 (XMODEM) of its hash tag (the part between the first `{` and
/// the next `}`, when not empty) or of the whole key, modulo 16384.
pub(crate) fn slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(key)) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // Values from `CLUSTER KEYSLOT`.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_ne!(
            slot(b"foo{}{bar}"),
            slot(b"bar"),
            "an empty tag hashes the whole key"
        );
    }

    #[test]
    fn keys_map_to_the_range_holding_their_slot() {
        let range = |start: i64, end: i64| {
            Value::Array(vec![Value::Int(start), Value::Int(end), Value::Nil])
        };
        let ranges = SlotRanges::from_reply(&Value::Array(vec![
            range(10923, 16383),
            range(0, 5460),
            range(5461, 10922),
        ]));
        assert_eq!(ranges.count(), 3);
        assert_eq!(ranges.part_of("foo"), 2, "slot 12182");
        assert_eq!(
            ranges.part_of("{user1000}x"),
            usize::from(slot(b"user1000") > 5460) + usize::from(slot(b"user1000") > 10922)
        );
        let single = SlotRanges::default();
        assert_eq!((single.count(), single.part_of("foo")), (1, 0));
    }
}
