/**
 * The Lua scripts that make the Redis store's multi-key steps atomic (Redis runs a script with
 * nothing in between). Every script takes the key prefix as ARGV[1] and builds its keys from it,
 * so it suits a single Redis server (or a primary with replicas), not Redis Cluster.
 *
 * Keys (see store/redis.ts): s:ID session hash (meta, v, blob, owner) · b:BLOB bytes ·
 * blobs zset of blob ids by creation time · u:BLOB set of sessions using a blob · o:OWNER hash
 * of session → "bytes updatedAt" · e:ID:GEN zset of events by position · g:ID set of generation
 * ids with events · l:ID lease "owner expiresAt" · x:ID:GEN live stream · version counter.
 *
 * @module
 */

import { luaScript } from "./client.ts";

// Deletes blob `blob` if its set of users is empty (shared by the scripts that drop a user).
const COLLECT = `
local function collect(p, blob)
  if redis.call('SCARD', p .. 'u:' .. blob) == 0 then
    redis.call('DEL', p .. 'b:' .. blob)
    redis.call('ZREM', p .. 'blobs', blob)
  end
end
`;

/**
 * Publish: ARGV prefix, id, expected version ('' = must not exist), meta JSON, blob, owner ('' =
 * none), owner record, expire-at (Unix ms), generation id, then position/event pairs. Returns the
 * new version; 0 when the version check failed; -1 when the blob is not in the store.
 */
export const PUBLISH = await luaScript(
  COLLECT + `
local p, id, expected, blob, owner = ARGV[1], ARGV[2], ARGV[3], ARGV[5], ARGV[6]
local at = tonumber(ARGV[8])
local function extend(key)
  if redis.call('PEXPIRETIME', key) < at then redis.call('PEXPIREAT', key, at) end
end
local skey = p .. 's:' .. id
local cur = redis.call('HMGET', skey, 'v', 'blob', 'owner')
if (cur[1] or '') ~= expected then return 0 end
if redis.call('EXISTS', p .. 'b:' .. blob) == 0 then return -1 end
local version = tostring(redis.call('INCR', p .. 'version'))
redis.call('HSET', skey, 'meta', ARGV[4], 'v', version, 'blob', blob, 'owner', owner)
redis.call('PEXPIREAT', skey, at)
redis.call('SADD', p .. 'u:' .. blob, id)
if cur[2] and cur[2] ~= blob then
  redis.call('SREM', p .. 'u:' .. cur[2], id)
  collect(p, cur[2])
end
if cur[3] and cur[3] ~= '' and cur[3] ~= owner then redis.call('HDEL', p .. 'o:' .. cur[3], id) end
if owner ~= '' then
  redis.call('HSET', p .. 'o:' .. owner, id, ARGV[7])
  extend(p .. 'o:' .. owner)
end
if #ARGV > 9 then
  local ekey = p .. 'e:' .. id .. ':' .. ARGV[9]
  for i = 10, #ARGV, 2 do
    redis.call('ZREMRANGEBYSCORE', ekey, ARGV[i], ARGV[i])
    redis.call('ZADD', ekey, ARGV[i], ARGV[i + 1])
  end
  extend(ekey)
  redis.call('SADD', p .. 'g:' .. id, ARGV[9])
  extend(p .. 'g:' .. id)
end
return version
`,
);

/** Delete: ARGV prefix, id. Drops the session, its events, lease and live streams; 1 if it existed. */
export const DELETE = await luaScript(
  COLLECT + `
local p, id = ARGV[1], ARGV[2]
local skey = p .. 's:' .. id
local cur = redis.call('HMGET', skey, 'blob', 'owner')
if not cur[1] then return 0 end
redis.call('DEL', skey)
redis.call('SREM', p .. 'u:' .. cur[1], id)
collect(p, cur[1])
if cur[2] and cur[2] ~= '' then redis.call('HDEL', p .. 'o:' .. cur[2], id) end
for _, gen in ipairs(redis.call('SMEMBERS', p .. 'g:' .. id)) do
  redis.call('DEL', p .. 'e:' .. id .. ':' .. gen, p .. 'x:' .. id .. ':' .. gen)
end
redis.call('DEL', p .. 'g:' .. id, p .. 'l:' .. id)
return 1
`,
);

/**
 * Sweep one blob: ARGV prefix, blob. Forgets users that no longer point at it (sessions that
 * expired), then deletes it if none is left. Returns 1 if its bytes were deleted.
 */
export const SWEEP_BLOB = await luaScript(`
local p, blob = ARGV[1], ARGV[2]
local ukey = p .. 'u:' .. blob
for _, id in ipairs(redis.call('SMEMBERS', ukey)) do
  if redis.call('HGET', p .. 's:' .. id, 'blob') ~= blob then redis.call('SREM', ukey, id) end
end
if redis.call('SCARD', ukey) > 0 then return 0 end
redis.call('ZREM', p .. 'blobs', blob)
return redis.call('DEL', p .. 'b:' .. blob)
`);

/** Acquire or renew a lease: ARGV key, owner, ttl ms, expires-at. Returns 1 if `owner` holds it now. */
export const ACQUIRE_LEASE = await luaScript(`
local key, owner = ARGV[1], ARGV[2]
local held = redis.call('GET', key)
if held and string.sub(held, 1, #owner + 1) ~= owner .. ' ' then return 0 end
redis.call('SET', key, owner .. ' ' .. ARGV[4], 'PX', ARGV[3])
return 1
`);

/** Release a lease: ARGV key, owner. Deletes it only if `owner` holds it. */
export const RELEASE_LEASE = await luaScript(`
local key, owner = ARGV[1], ARGV[2]
local held = redis.call('GET', key)
if held and string.sub(held, 1, #owner + 1) == owner .. ' ' then redis.call('DEL', key) end
return 1
`);

/** Every script, to load on each new connection. */
export const ALL_SCRIPTS = [PUBLISH, DELETE, SWEEP_BLOB, ACQUIRE_LEASE, RELEASE_LEASE];
