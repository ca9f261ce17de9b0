--[[
claims_rebuild.lua: rebuild ONE promotion's claim counters from PostgreSQL, in
chunks. Runs only while the loaded_at marker is missing (a Redis that came
back empty, or a forced rebuild: the caller removes the marker first);
without it every claim answers NOT_LOADED, so nothing is claimed in Redis
meanwhile. The first chunk clears what is left; the last writes the marker.
Slots: next_slot becomes the highest slot a stored claim holds; the slots
below it that no claim holds (claims taken back) are handed in as free.

KEYS[1]   <prefix>{p:<id>}:claims      hash  loaded_at, next_slot
KEYS[2]   <prefix>{p:<id>}:claimers    hash  customer id -> codes claimed
KEYS[3]   <prefix>{p:<id>}:claim_ids   hash  claim id -> "<code> <customer id> <slot>"
KEYS[4]   <prefix>{p:<id>}:claim_free  set   slots given back

ARGV[1]   "1": the first chunk (clear claimers, claim_ids, free slots and
          next_slot first), else "0"
ARGV[2]   "1": the last chunk (write loaded_at = ARGV[3] at the end), else "0"
ARGV[3]   now, epoch ms
ARGV[4]   n, the claims in this chunk
ARGV[5]   m, the free slots in this chunk
then n quadruples: claim id, code, customer id, slot; then m free slots

Returns {"ALREADY"} when the marker is present (nothing written), else
{"OK", claims now recorded}.
]]

if #KEYS ~= 4 or #ARGV < 5 then
  return fail('expected 4 keys and at least 5 arguments')
end
local n, m = tonumber(ARGV[4]), tonumber(ARGV[5])
if not n or not m or #ARGV ~= 5 + 4 * n + m then
  return fail('expected 5 + 4n + m arguments')
end
if redis.call('HEXISTS', KEYS[1], 'loaded_at') == 1 then
  return {'ALREADY'}
end
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  redis.call('HDEL', KEYS[1], 'next_slot')
end
local highest = tonumber(redis.call('HGET', KEYS[1], 'next_slot') or '0')
for i = 0, n - 1 do
  local at = 6 + 4 * i
  local claim_id, code, customer, slot = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  if redis.call('HSETNX', KEYS[3], claim_id, code .. ' ' .. customer .. ' ' .. slot) == 1 then
    redis.call('HINCRBY', KEYS[2], customer, 1)
    if tonumber(slot) > highest then
      highest = tonumber(slot)
    end
  end
end
redis.call('HSET', KEYS[1], 'next_slot', tostring(highest))
for j = 0, m - 1 do
  redis.call('SADD', KEYS[4], ARGV[6 + 4 * n + j])
end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'loaded_at', ARGV[3])
end
return {'OK', redis.call('HLEN', KEYS[3])}
