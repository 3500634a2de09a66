//! What one Redis string holds for a cache key: the value, the key's version and the generation
//! the value was written in, together.
//!
//! - `V<v>:<g>:<envelope>`: a value at version `v`, written in namespace generation `g`;
//! - `T<v>`: a tombstone left by a delete, or a lease taken by a reader before it loads, at
//!   version `v` (kept for the tombstone TTL);
//! - anything else (written by something other than this layer): a value at version 0, handed
//!   to the cache as is, which counts it as a decode error and overwrites it.
//!
//! Versions are the hybrid logical clocks of [`versions`](crate::versions): a delete or a
//! write-through writes `max(TIME, v + 1)`, a lease on a missing record `TIME`. A conditional store
//! succeeds only while the record holds exactly the version its load began under, so a load that
//! began before an invalidation can never store after it, even when the tombstone was evicted
//! meanwhile: a missing record refuses every conditional store.
//!
//! Keeping version and generation in the value's own string keeps every operation on one key:
//! a plain `GETRANGE` on the read path and check-and-set scripts that are safe in a Cluster; and an
//! invalidation hits the one record every instance reads, whatever generation each believes in.
//!
//! The version handed to the cache ([`token`]) is the key's version (53 bits) with the low 11
//! bits of this instance's generation epoch above it: a value loaded before this instance adopted
//! a new generation (a `clear()`) is never stored after it.

use crate::versions::{counter, lua_clock, MAX_VERSION};

/// Lua helper shared by the data-key scripts, after [`lua_clock`]: the version of a record,
/// `nil` for none, 0 for a foreign value or another type. Must agree with [`parse`].
macro_rules! lua_version_of {
    () => {
        r"
local function version_of(cur)
  if not cur then return nil end
  if type(cur) ~= 'string' then return 0 end
  local n, g = string.match(cur, '^V(%d+):(%d+):')
  if not n then n = string.match(cur, '^T(%d+)$') end
  if not n or #n > 16 or (g and #g > 16) then return 0 end
  local v = tonumber(n)
  if v > 9007199254740991 or (g and tonumber(g) > 9007199254740991) then return 0 end
  return v
end
"
    };
}

/// Stores a value. `ARGV[1]` payload, `ARGV[2]` TTL in ms, `ARGV[3]` the version the load began
/// under (store only while the record holds exactly it) or empty (a write-through: the version
/// moves forward, so loads that began before it cannot overwrite it), `ARGV[4]` the generation.
pub(crate) const SET_SCRIPT: &str = concat!(
    lua_clock!(),
    lua_version_of!(),
    r"
local v = version_of(redis.pcall('GET', KEYS[1]))
if ARGV[3] ~= '' then
  if v == nil or v ~= tonumber(ARGV[3]) then return 0 end
else
  v = math.max(now_us(), (v or 0) + 1)
end
redis.call('SET', KEYS[1], 'V' .. fmt(v) .. ':' .. ARGV[4] .. ':' .. ARGV[1], 'PX', ARGV[2])
return 1"
);

/// Replaces the value by a tombstone at a new version, kept `ARGV[1]` ms; returns the version.
pub(crate) const DELETE_SCRIPT: &str = concat!(
    lua_clock!(),
    lua_version_of!(),
    r"
local v = version_of(redis.pcall('GET', KEYS[1]))
v = math.max(now_us(), (v or 0) + 1)
redis.call('SET', KEYS[1], 'T' .. fmt(v), 'PX', ARGV[1])
return fmt(v)"
);

/// Before a load of a missing key: puts a lease `T<TIME>` (kept `ARGV[1]` ms) unless a record
/// appeared meanwhile; returns the key's version either way.
pub(crate) const LEASE_SCRIPT: &str = concat!(
    lua_clock!(),
    lua_version_of!(),
    r"
local v = version_of(redis.pcall('GET', KEYS[1]))
if v ~= nil then return fmt(v) end
v = now_us()
redis.call('SET', KEYS[1], 'T' .. fmt(v), 'PX', ARGV[1])
return fmt(v)"
);

/// One parsed record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// The stored bytes (none for a tombstone or lease).
    pub(crate) value: Option<Vec<u8>>,
    /// The key's version.
    pub(crate) version: u64,
    /// The generation a value was written in (none for tombstones and foreign values).
    pub(crate) generation: Option<u64>,
}

/// Splits a stored record into value, version and generation.
pub(crate) fn parse(mut bytes: Vec<u8>) -> Record {
    let foreign = |bytes| Record {
        value: Some(bytes),
        version: 0,
        generation: None,
    };
    match bytes.first() {
        Some(b'V') => {
            let Some((version, generation, header)) = value_header(&bytes) else {
                return foreign(bytes);
            };
            bytes.drain(..header);
            Record {
                value: Some(bytes),
                version,
                generation: Some(generation),
            }
        }
        Some(b'T') => match counter(&bytes[1..]) {
            Some(version) => Record {
                value: None,
                version,
                generation: None,
            },
            None => foreign(bytes),
        },
        _ => foreign(bytes),
    }
}

/// `V<v>:<g>:`: the version, the generation and the header's length.
fn value_header(bytes: &[u8]) -> Option<(u64, u64, usize)> {
    let (version, first) = counter_then_colon(bytes.get(1..)?)?;
    let (generation, second) = counter_then_colon(&bytes[1 + first..])?;
    Some((version, generation, 1 + first + second))
}

/// A [`counter`] followed by `:` at the start of `bytes` (at most 16 digits), and the length of
/// both.
fn counter_then_colon(bytes: &[u8]) -> Option<(u64, usize)> {
    let colon = bytes.iter().take(17).position(|&b| b == b':')?;
    Some((counter(&bytes[..colon])?, colon + 1))
}

/// Bits of the token that hold the key's version.
const VERSION_BITS: u32 = 53;

/// The version handed to the cache: the key's version and this instance's generation epoch.
pub(crate) fn token(epoch: u64, version: u64) -> u64 {
    (epoch << VERSION_BITS) | (version & MAX_VERSION)
}

/// The epoch (low 11 bits) and key version of a token.
pub(crate) fn untoken(token: u64) -> (u64, u64) {
    (token >> VERSION_BITS, token & MAX_VERSION)
}

/// The epoch as it appears in a token.
pub(crate) fn epoch_part(epoch: u64) -> u64 {
    epoch & ((1 << (64 - VERSION_BITS)) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(version: u64, generation: u64, bytes: &[u8]) -> Record {
        Record {
            value: Some(bytes.to_vec()),
            version,
            generation: Some(generation),
        }
    }

    #[test]
    fn values_tombstones_and_foreign_bytes() {
        assert_eq!(parse(b"V0:7:LCpayload".to_vec()), value(0, 7, b"LCpayload"));
        assert_eq!(parse(b"V42:0:".to_vec()), value(42, 0, b""));
        assert_eq!(parse(b"V7:1::x".to_vec()), value(7, 1, b":x"));
        assert_eq!(
            parse(b"V1764523456789012:1764523456789013:z".to_vec()),
            value(1_764_523_456_789_012, 1_764_523_456_789_013, b"z")
        );
        assert_eq!(
            parse(b"T3".to_vec()),
            Record {
                value: None,
                version: 3,
                generation: None
            }
        );
        // Foreign or corrupt (including the format before generations were stored): version 0,
        // bytes untouched.
        for raw in [
            &b"garbage"[..],
            b"",
            b"V",
            b"V:x",
            b"V12:LCpayload",
            b"V12a:1:x",
            b"V1:2",
            b"T",
            b"T3x",
            b"V12345678901234567:1:x",
            b"V9007199254740992:1:x",
        ] {
            assert_eq!(
                parse(raw.to_vec()),
                Record {
                    value: Some(raw.to_vec()),
                    version: 0,
                    generation: None
                },
                "{raw:?}"
            );
        }
    }

    #[test]
    fn tokens_keep_epoch_and_version_apart() {
        let v = token(epoch_part(3), MAX_VERSION);
        assert_eq!(untoken(v), (3, MAX_VERSION));
        assert_ne!(token(1, 0), token(0, 0));
        assert_eq!(epoch_part(2048 + 5), 5);
    }
}
