//! Versions that never go backwards, even when Redis forgets them.
//!
//! Three kinds of records guard invalidation, and Redis may drop any of them: `allkeys-lru`
//! evicts them, a restart without persistence or `FLUSHALL` empties the server, a failover
//! promotes a replica that missed the last writes.
//!
//! | record | Redis key | moved by |
//! |---|---|---|
//! | a key's version (tombstone or lease `T<v>`, or value `V<v>:<g>:…`) | the data key | `delete`, a write-through `set`, a lease on a miss ([`record`](crate::record)) |
//! | a tag's version | `{lc:ns}:tag:<t>` | `bump_tag` |
//! | the namespace generation | `{lc:ns}:gen` | `clear` |
//!
//! # Invariant
//!
//! *A version handed out after an invalidation is never equal to (per key) or below (tags,
//! generation) a version handed out before it, and a missing record never reads as an old
//! version.* Equivalently: an entry stamped before an invalidation is never accepted after it.
//!
//! # How
//!
//! Versions are hybrid logical clocks in microseconds, made inside one script on the server
//! that holds the record: `new = max(server TIME, stored + 1, floor + 1)`, where `floor` is the
//! highest version of that record this instance has seen (from reads, its own bumps and backplane
//! messages). Values stay below 2^53, so Lua's doubles hold them exactly.
//!
//! - **Missing means "invalidated as of now", never 0.** A reader that finds a tag or the
//!   generation missing creates it (in one script, so every instance gets the same value) at
//!   `max(TIME, floor + 1)`: newer than every stamp any entry carries, so every entry stamped
//!   before the loss is refused. A reader that finds a data key missing creates a *lease* `T<now>`
//!   before it loads (Redis's client-side-caching rule: placeholder before the read; memcache
//!   leases), and its store succeeds only while the record still holds that exact version: a
//!   record that is missing at store time (evicted, expired, flushed) refuses every conditional
//!   store.
//! - **Behind means lost, and is repaired forward.** A reader whose floor is above the stored
//!   value (a failover to a replica that missed a bump, a restore) rewrites the record to
//!   `max(TIME, floor + 1)`: everything stamped with the lost versions is refused too.
//! - **Stamps are taken before the load.** An entry's tag stamps and a load's key version are read
//!   before the loader runs; an invalidation that finishes after that point writes
//!   `max(TIME, stored + 1, …)`: above the stamp when the record survived, above it by the clock
//!   when it did not (the stamp was made earlier, by the same clock or a replica's).
//! - **One generation for all.** The generation is created with the same read-or-create script,
//!   so after a reset every instance adopts the same one; values carry the generation they were
//!   written in (`V<v>:<g>:…`) in a key that does not depend on it, so an invalidation always hits
//!   the one record every instance reads, whatever generation the writer believes in. A value of
//!   an older generation is a miss; a value of a newer one teaches the reader that generation.
//!   Every instance re-reads the generation when its backplane reconnects, on a `Clear` message
//!   and every health interval.
//!
//! # Assumption
//!
//! The servers' clocks do not step back, across a restart or failover, by more than the time
//! between a stamp and the invalidation that must exceed it when the record in between was lost.
//! A failover takes seconds and NTP keeps servers within milliseconds. Without a loss, versions are
//! ordered by `stored + 1` alone and no clock is needed.
//!
//! # Cluster
//!
//! Every script touches one key, or several keys of the namespace's `{lc:…}` hash slot.

use std::collections::HashMap;
use std::sync::LazyLock;

use parking_lot::RwLock;
use redis::Script;

use crate::connection::SharedConnection;

/// Largest version: 2^53 - 1, exact in Lua's doubles (µs since 1970 reach it in year 2255).
pub(crate) const MAX_VERSION: u64 = (1 << 53) - 1;

/// Lua helpers every version script starts with: the server clock in µs, exact formatting, and
/// the parse of a counter record (`nil` when missing, foreign or of another type).
macro_rules! lua_clock {
    () => {
        r"
if redis.replicate_commands then redis.replicate_commands() end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function fmt(n) return string.format('%.0f', n) end
local function counter_in(raw)
  if type(raw) ~= 'string' or #raw > 16 or not string.match(raw, '^%d+$') then return nil end
  return tonumber(raw)
end
"
    };
}
pub(crate) use lua_clock;

/// Reads counters (`KEYS`, one slot) and repairs those missing, foreign or below the caller's
/// floor (`ARGV`, one per key) to `max(TIME, floor + 1, stored + 1)`. Returns them as strings.
const ENSURE: &str = concat!(
    lua_clock!(),
    r"
local out = {}
for i, key in ipairs(KEYS) do
  local floor = tonumber(ARGV[i]) or 0
  local v = counter_in(redis.pcall('GET', key))
  if v == nil or v < floor then
    v = math.max(now_us(), floor + 1, (v or 0) + 1)
    redis.call('SET', key, fmt(v))
  end
  out[i] = fmt(v)
end
return out"
);

/// Moves a counter (`KEYS[1]`) to `max(TIME, stored + 1, floor + 1)` (`ARGV[1]` the floor).
const ADVANCE: &str = concat!(
    lua_clock!(),
    r"
local floor = tonumber(ARGV[1]) or 0
local v = counter_in(redis.pcall('GET', KEYS[1])) or 0
v = math.max(now_us(), floor + 1, v + 1)
redis.call('SET', KEYS[1], fmt(v))
return fmt(v)"
);

static ENSURE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ENSURE));
static ADVANCE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ADVANCE));

/// The highest version of each tag this instance has seen (its reads, its bumps, backplane
/// messages): the floor its reads repair a tag record to when Redis lost it or went backwards.
#[derive(Debug, Default)]
pub(crate) struct TagFloors {
    seen: RwLock<Seen>,
}

/// The floors, and the tags in the order they were first seen (so a page is a slice).
#[derive(Debug, Default)]
struct Seen {
    index: HashMap<String, usize>,
    floors: Vec<(String, u64)>,
}

impl TagFloors {
    /// The floor of each of `tags` (0 for a tag never seen).
    pub(crate) fn of(&self, tags: &[String]) -> Vec<u64> {
        let seen = self.seen.read();
        tags.iter()
            .map(|t| seen.index.get(t.as_str()).map_or(0, |&i| seen.floors[i].1))
            .collect()
    }

    /// Up to `n` tags with their floors, in the order first seen from the `cursor`-th; and the
    /// cursor of the next page (0 after the last).
    pub(crate) fn page(&self, cursor: usize, n: usize) -> (Vec<(String, u64)>, usize) {
        let seen = self.seen.read();
        let len = seen.floors.len();
        let start = if cursor < len { cursor } else { 0 };
        let end = start.saturating_add(n).min(len);
        let page = seen.floors[start..end].to_vec();
        (page, if end >= len { 0 } else { end })
    }

    /// Learns that `tag` reached `version`.
    pub(crate) fn raise(&self, tag: &str, version: u64) {
        {
            let seen = self.seen.read();
            if seen
                .index
                .get(tag)
                .is_some_and(|&i| seen.floors[i].1 >= version)
            {
                return;
            }
        }
        let mut seen = self.seen.write();
        let seen = &mut *seen;
        match seen.index.get(tag) {
            Some(&i) => seen.floors[i].1 = seen.floors[i].1.max(version),
            None => {
                seen.index.insert(tag.to_owned(), seen.floors.len());
                seen.floors.push((tag.to_owned(), version));
            }
        }
    }
}

/// A counter record as this layer writes it: decimal, at most 16 digits, within [`MAX_VERSION`].
pub(crate) fn counter(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || raw.len() > 16 {
        return None;
    }
    // At most 16 digits: below 10^16, so no overflow.
    let mut value: u64 = 0;
    for &b in raw {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u64::from(b - b'0');
    }
    (value <= MAX_VERSION).then_some(value)
}

/// The current values of the counters `keys` (all in one hash slot), each at least its floor:
/// one `MGET`, plus one script only when a counter is missing, foreign or went backwards.
pub(crate) async fn read(
    connection: &mut SharedConnection,
    keys: &[String],
    floors: &[u64],
) -> redis::RedisResult<Vec<u64>> {
    Ok(read_noting_losses(connection, keys, floors).await?.0)
}

/// [`read`], also telling which counters were found missing, foreign or behind (by index).
pub(crate) async fn read_noting_losses(
    connection: &mut SharedConnection,
    keys: &[String],
    floors: &[u64],
) -> redis::RedisResult<(Vec<u64>, Vec<usize>)> {
    let mut mget = redis::cmd("MGET");
    for key in keys {
        mget.arg(key);
    }
    let stored: Vec<Option<Vec<u8>>> = mget.query_async(connection).await?;
    let mut values: Vec<Option<u64>> = stored
        .iter()
        .zip(floors)
        .map(|(raw, floor)| raw.as_deref().and_then(counter).filter(|v| v >= floor))
        .collect();
    values.resize(keys.len(), None);
    let lost: Vec<usize> = (0..keys.len()).filter(|&i| values[i].is_none()).collect();
    if !lost.is_empty() {
        let mut invocation = ENSURE_SCRIPT.prepare_invoke();
        for &i in &lost {
            invocation
                .key(&keys[i])
                .arg(floors.get(i).copied().unwrap_or(0));
        }
        let repaired: Vec<u64> = invocation.invoke_async(connection).await?;
        for (&i, v) in lost.iter().zip(repaired) {
            tracing::debug!(
                key = keys[i].as_str(),
                version = v,
                "version record was missing, foreign or behind; now at least this"
            );
            values[i] = Some(v);
        }
    }
    let values = values
        .into_iter()
        .map(|v| {
            v.ok_or_else(|| {
                redis::RedisError::from((
                    redis::ErrorKind::UnexpectedReturnType,
                    "version script answered fewer values than asked",
                ))
            })
        })
        .collect::<redis::RedisResult<Vec<u64>>>()?;
    Ok((values, lost))
}

/// Moves the counter `key` past every version handed out before (and past `floor`).
pub(crate) async fn advance(
    connection: &mut SharedConnection,
    key: &str,
    floor: u64,
) -> redis::RedisResult<u64> {
    let mut invocation = ADVANCE_SCRIPT.key(key);
    invocation.arg(floor);
    invocation.invoke_async(connection).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_floors_only_rise() {
        let floors = TagFloors::default();
        floors.raise("a", 5);
        floors.raise("a", 3);
        floors.raise("b", 0);
        assert_eq!(floors.of(&["a".into(), "b".into()]), vec![5, 0]);
        floors.raise("c", 1);
        floors.raise("b", 2);
        assert_eq!(
            floors.page(0, 2),
            (vec![("a".to_owned(), 5), ("b".to_owned(), 2)], 2)
        );
        assert_eq!(floors.page(2, 2), (vec![("c".to_owned(), 1)], 0));
        assert_eq!(floors.page(7, 2).1, 2, "a cursor past the end starts over");
    }

    #[test]
    fn counters_are_short_decimals_below_two_to_the_53() {
        assert_eq!(counter(b"0"), Some(0));
        assert_eq!(counter(b"1764523456789012"), Some(1_764_523_456_789_012));
        assert_eq!(counter(b"9007199254740991"), Some(MAX_VERSION));
        for bad in [
            &b""[..],
            b"9007199254740992",
            b"12345678901234567",
            b"-1",
            b"1x",
            b"01 ",
        ] {
            assert_eq!(counter(bad), None, "{bad:?}");
        }
    }
}
