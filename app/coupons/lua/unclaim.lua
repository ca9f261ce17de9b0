--[[
unclaim.lua: take back one claim that PostgreSQL did not store (its write
failed, or the database's own limit check refused it), so the count in Redis
does not keep a code nobody holds; its slot goes back to the free set.

KEYS[1]   <prefix>{p:<id>}:claimers    hash  customer id -> codes claimed
KEYS[2]   <prefix>{p:<id>}:claim_ids   hash  claim id -> "<code> <customer id> <slot>"
KEYS[3]   <prefix>{p:<id>}:claim_free  set   slots given back
ARGV[1]   claim id

Returns {"OK"} when the claim was there and is gone, {"NOT_FOUND"} when there
was nothing to take back (nothing written).
]]

if #KEYS ~= 3 or #ARGV ~= 1 or ARGV[1] == '' then
  return fail('expected 3 keys and a claim id')
end
local record = redis.call('HGET', KEYS[2], ARGV[1])
if not record then
  return {'NOT_FOUND'}
end
local _, customer, slot = string.match(record, '^(%S+) (.+) (%d+)$')
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HINCRBY', KEYS[1], customer, -1) <= 0 then
  redis.call('HDEL', KEYS[1], customer)
end
redis.call('SADD', KEYS[3], slot)
return {'OK'}
