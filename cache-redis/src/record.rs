//! What one Redis string holds for a cache key: the value and the key's version, together.
//!
//! - `V<n>:<envelope>`: a value, at version `n`;
//! - `T<n>`: a tombstone left by a delete, at version `n` (kept for the tombstone TTL);
//! - anything else (written by something other than this layer): a value at version 0, handed
//!   to the cache as is, which counts it as a decode error and overwrites it.
//!
//! `n` is decimal, at most 15 digits, so Lua's doubles hold it exactly. Keeping the version in
//! the same string keeps every operation on one key: plain `GET` on the read path, and
//! check-and-set scripts that are safe in a Cluster.
//!
//! The version handed to the cache packs the namespace generation (high 32 bits) with `n`
//! (low 32 bits): a value loaded before a `clear()` can then never be stored after it.

/// Longest version counter, in digits.
const MAX_DIGITS: usize = 15;

/// Lua helper shared by the scripts: the version of a record, 0 for none or a foreign value.
/// Must agree with [`parse`].
macro_rules! lua_version_of {
    () => {
        r"
local function version_of(cur)
  if not cur then return 0 end
  local n = string.match(cur, '^V(%d+):') or string.match(cur, '^T(%d+)$')
  if not n or #n > 15 then return 0 end
  return tonumber(n)
end
"
    };
}

/// Stores a value, unconditionally (`ARGV[3]` empty) or only while the key's version (modulo
/// 2^32) is `ARGV[3]`; keeps the version. `ARGV[1]` payload, `ARGV[2]` TTL in ms.
pub(crate) const SET_SCRIPT: &str = concat!(
    lua_version_of!(),
    r"
local v = version_of(redis.call('GET', KEYS[1]))
if ARGV[3] ~= '' and (v % 4294967296) ~= tonumber(ARGV[3]) then
  return 0
end
redis.call('SET', KEYS[1], string.format('V%d:', v) .. ARGV[1], 'PX', ARGV[2])
return 1"
);

/// Replaces the value by a tombstone one version up, kept `ARGV[1]` ms.
pub(crate) const DELETE_SCRIPT: &str = concat!(
    lua_version_of!(),
    r"
local v = version_of(redis.call('GET', KEYS[1])) + 1
redis.call('SET', KEYS[1], string.format('T%d', v), 'PX', ARGV[1])
return v"
);

/// Splits a stored record into its value (none for a tombstone) and version counter.
pub(crate) fn parse(mut bytes: Vec<u8>) -> (Option<Vec<u8>>, u64) {
    match bytes.first() {
        Some(b'V') => {
            let header = bytes.iter().take(MAX_DIGITS + 2).position(|&b| b == b':');
            if let Some(colon) = header {
                if let Some(n) = counter(&bytes[1..colon]) {
                    bytes.drain(..=colon);
                    return (Some(bytes), n);
                }
            }
            (Some(bytes), 0)
        }
        Some(b'T') => match counter(&bytes[1..]) {
            Some(n) => (None, n),
            None => (Some(bytes), 0),
        },
        _ => (Some(bytes), 0),
    }
}

fn counter(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The version the cache sees: generation and counter, 32 bits each.
pub(crate) fn pack(generation: u64, counter: u64) -> u64 {
    (generation << 32) | (counter & 0xFFFF_FFFF)
}

/// The generation (low 32 bits of it) and counter of a packed version.
pub(crate) fn unpack(version: u64) -> (u64, u64) {
    (version >> 32, version & 0xFFFF_FFFF)
}

/// The generation as it appears in a packed version.
pub(crate) fn generation_part(generation: u64) -> u64 {
    generation & 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_tombstones_and_foreign_bytes() {
        assert_eq!(
            parse(b"V0:LCpayload".to_vec()),
            (Some(b"LCpayload".to_vec()), 0)
        );
        assert_eq!(parse(b"V42:".to_vec()), (Some(Vec::new()), 42));
        assert_eq!(parse(b"V7::x".to_vec()), (Some(b":x".to_vec()), 7));
        assert_eq!(parse(b"T3".to_vec()), (None, 3));
        // Foreign or corrupt: version 0, bytes untouched.
        for raw in [
            &b"garbage"[..],
            b"",
            b"V",
            b"V:x",
            b"V12a:x",
            b"T",
            b"T3x",
            b"V1234567890123456:x",
        ] {
            assert_eq!(parse(raw.to_vec()), (Some(raw.to_vec()), 0), "{raw:?}");
        }
    }

    #[test]
    fn packing_keeps_generation_and_counter_apart() {
        let v = pack(3, 9);
        assert_eq!(unpack(v), (3, 9));
        assert_ne!(pack(1, 0), pack(0, 0));
        assert_eq!(generation_part(3), 3);
    }
}
