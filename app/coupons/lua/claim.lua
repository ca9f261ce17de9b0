--[[
claim.lua: one claim (领券) of ONE coupon promotion (one cluster slot): decide
it against the promotion's limits and record it, atomically.

Order: (1) idempotency: has this claim id been here? then answer as before and
write nothing, so a script that runs twice (redis-py re-sends a command after
a connection error or a timeout) claims once; (2) every check: the counters
are loaded, the window is open, the total and the customer's count stay
within the limits; (3) only then the writes.

Each granted claim gets a slot, 1..max_claims: a slot given back (unclaim.lua)
first, else the next one (next_slot + 1). Claims hold distinct slots, so the
database bounds the total with a unique (promotion, slot) instead of a count
row that every claim would lock through its commit (docs/coupons.md).

KEYS[1]   <prefix>{p:<id>}:claims      hash  loaded_at (present: the counters exist here),
                                             next_slot
KEYS[2]   <prefix>{p:<id>}:claimers    hash  customer id -> codes claimed
KEYS[3]   <prefix>{p:<id>}:claim_ids   hash  claim id -> "<code> <customer id> <slot>"
KEYS[4]   <prefix>{p:<id>}:claim_free  set   slots given back

ARGV[1]   claim id (not empty, no space)
ARGV[2]   customer id (not empty)
ARGV[3]   the code to give when the claim is granted (not empty, no space)
ARGV[4]   now, epoch ms
ARGV[5]   window start, epoch ms inclusive, or "" for none
ARGV[6]   window end, epoch ms exclusive, or "" for none
ARGV[7]   max_claims, or "" for no limit
ARGV[8]   max_claims_per_customer, or "" for no limit

Returns {code, detail, value, slot}:
  {"OK", "claimed", code, slot}         granted now; the code is ARGV[3]
  {"OK", "replay", code, slot}          this claim id was granted before (to this
                                        customer): its code and slot; nothing written
  {"CLAIM_ID_TAKEN", "", "", ""}        this claim id belongs to another customer
  {"NOT_LOADED", "", "", ""}            no counters here (Redis emptied): rebuild first
  {"NOT_ACTIVE", "not_started"|"ended", "", ""}
  {"LIMIT_REACHED", "max_claims"|"max_claims_per_customer", claimed so far, ""}
Every code but OK/claimed writes nothing. Malformed arguments: an error reply
"ERR claim: ..." before any write.
]]

if #KEYS ~= 4 or #ARGV ~= 8 then
  return fail('expected 4 keys and 8 arguments')
end
local claim_id, customer, code = ARGV[1], ARGV[2], ARGV[3]
local now = int(ARGV[4])
local ok_start, starts = opt_int(ARGV[5])
local ok_end, ends = opt_int(ARGV[6])
local ok_max, max_claims = opt_int(ARGV[7])
local ok_cmax, max_per_customer = opt_int(ARGV[8])
if claim_id == '' or customer == '' or code == '' then
  return fail('claim id, customer id and code must not be empty')
end
if string.find(claim_id, ' ', 1, true) or string.find(code, ' ', 1, true) then
  return fail('claim id and code must not contain a space')
end
if not (now and ok_start and ok_end and ok_max and ok_cmax) then
  return fail('now, window and limits must be integers or empty')
end

-- (1) idempotency, before anything else
local record = redis.call('HGET', KEYS[3], claim_id)
if record then
  local held, owner, slot = string.match(record, '^(%S+) (.+) (%d+)$')
  if owner ~= customer then
    return {'CLAIM_ID_TAKEN', '', '', ''}
  end
  return {'OK', 'replay', held, slot}
end

-- (2) every check, before the first write
if redis.call('HEXISTS', KEYS[1], 'loaded_at') == 0 then
  return {'NOT_LOADED', '', '', ''}
end
if starts and now < starts then
  return {'NOT_ACTIVE', 'not_started', '', ''}
end
if ends and now >= ends then
  return {'NOT_ACTIVE', 'ended', '', ''}
end
local total = redis.call('HLEN', KEYS[3])
if max_claims and total >= max_claims then
  return {'LIMIT_REACHED', 'max_claims', tostring(total), ''}
end
local mine = tonumber(redis.call('HGET', KEYS[2], customer) or '0')
if max_per_customer and mine >= max_per_customer then
  return {'LIMIT_REACHED', 'max_claims_per_customer', tostring(mine), ''}
end

-- (3) writes
local slot = redis.call('SPOP', KEYS[4])
if not slot then
  slot = tostring(redis.call('HINCRBY', KEYS[1], 'next_slot', 1))
end
redis.call('HSET', KEYS[3], claim_id, code .. ' ' .. customer .. ' ' .. slot)
redis.call('HINCRBY', KEYS[2], customer, 1)
return {'OK', 'claimed', code, slot}
