//! The distributed load lock: `SET NX PX` with a token, released only by its holder.

/// Takes the lock `KEYS[1]` for token `ARGV[1]` and `ARGV[2]` ms if nobody holds it. A lock key
/// without a TTL was not written by this layer (every lock has one) and would never be freed:
/// it is taken over instead of being waited on forever.
pub(crate) const TRY_LOCK: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0";

/// Deletes a lock only while it still holds the caller's token, so a holder whose lock expired
/// and was taken by someone else cannot release the new holder's lock.
pub(crate) const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";
