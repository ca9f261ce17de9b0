--[[
claims_rebuild.lua: rebuild ONE promotion's claim counters from PostgreSQL, in
chunks. Runs only while the loaded_at marker is missing (a Redis that came
back empty, or a forced rebuild: the caller removes the marker first);
without it every claim answers NOT_LOADED, so nothing is claimed in Redis
meanwhile. The first chunk clears what is left; the last writes the marker.

KEYS[1]   <prefix>{p:<id>}:claims      hash  loaded_at
KEYS[2]   <prefix>{p:<id>}:claimers    hash  customer id -> codes claimed
KEYS[3]   <prefix>{p:<id>}:claim_ids   hash  claim id -> "<code> <customer id>"

ARGV[1]   "1": the first chunk (clear claimers and claim_ids first), else "0"
ARGV[2]   "1": the last chunk (write loaded_at = ARGV[3] at the end), else "0"
ARGV[3]   now, epoch ms
ARGV[4]   n, the claims in this chunk; then n triples: claim id, code, customer id

Returns {"ALREADY"} when the marker is present (nothing written), else
{"OK", claims now recorded}.
]]

if #KEYS ~= 3 or #ARGV < 4 then
  return redis.error_reply('ERR claims_rebuild: expected 3 keys and at least 4 arguments')
end
local n = tonumber(ARGV[4])
if not n or #ARGV ~= 4 + 3 * n then
  return redis.error_reply('ERR claims_rebuild: expected 4 + 3n arguments')
end
if redis.call('HEXISTS', KEYS[1], 'loaded_at') == 1 then
  return {'ALREADY'}
end
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[2], KEYS[3])
end
for i = 0, n - 1 do
  local claim_id, code, customer = ARGV[5 + 3 * i], ARGV[6 + 3 * i], ARGV[7 + 3 * i]
  if redis.call('HSETNX', KEYS[3], claim_id, code .. ' ' .. customer) == 1 then
    redis.call('HINCRBY', KEYS[2], customer, 1)
  end
end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'loaded_at', ARGV[3])
end
return {'OK', redis.call('HLEN', KEYS[3])}
