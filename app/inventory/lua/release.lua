--[[
release.lua: give back everything one reservation took in ONE promotion (one
cluster slot): stock, the customer's holdings, the use and the budget.
Idempotent, and final: the record turns into a tombstone ("released") kept
`retention` seconds, so a late take of the same reservation (a retried or
delayed command) takes nothing, and a confirm is refused.

Releasing a reservation that took nothing here still writes the tombstone:
the compensation of a take whose outcome is unknown (timeout) must win
against that take arriving late. The expiry sweep (ARGV[5] set) writes no
tombstone for an unknown reservation and releases only what has expired.

KEYS[1]        <prefix>{p:<id>}:promotion       hash  uses, budget_spent
KEYS[2]        <prefix>{p:<id>}:customer_uses   hash  customer id -> uses
KEYS[3]        <prefix>{p:<id>}:open            zset  reservation id -> expires_at ms
KEYS[4]        <prefix>{p:<id>}:res:<rid>       hash  this reservation's record in this slot
KEYS[3+2i]     <prefix>{p:<id>}:stock:<sku i>   hash  initial, available, reserved, sold, limit
KEYS[4+2i]     <prefix>{p:<id>}:held:<sku i>    hash  customer id -> units reserved + sold
               (i = 1..n: at least every sku the record holds)

ARGV[1]        reservation id
ARGV[2]        now, epoch ms
ARGV[3]        retention of the tombstone, seconds (> 0)
ARGV[4]        reason: "cancelled", "expired", "compensated", ... (not empty)
ARGV[5]        "" to release whatever its expiry, or an epoch ms: release only a
               reservation whose expires_at <= this (the expiry sweep)
ARGV[6]        n, the number of skus given
ARGV[6+i]      sku i

Returns {code, detail, number}:
  {"RELEASED", "released", 0}   given back now
  {"RELEASED", "absent", 0}     took nothing here; tombstone written
  {"RELEASED", "replay", 0}     was released already; nothing written
  {"CONFIRMED", "", 0}          was confirmed: cannot be released; nothing written
  {"NOT_EXPIRED", "", expires_at}  sweep only: not expired yet; nothing written
  {"NOT_FOUND", "", 0}          sweep only: no such reservation; nothing written
  {"KEYS_MISMATCH", sku, 0}     the record holds an sku not given: read the record
                                again and retry; nothing written
Malformed arguments: an error reply "ERR release: ..." before any write.
]]

local rid, now, retention, reason = ARGV[1], int(ARGV[2]), int(ARGV[3]), ARGV[4]
local sweep = ARGV[5] ~= ''
local expired_before = int(ARGV[5])
local n = int(ARGV[6])
if not now or not retention or retention < 1 or not n or reason == '' then
  return fail('now, retention and n must be integers, retention >= 1, reason not empty')
end
if sweep and not expired_before then
  return fail('expired_before must be an integer or empty')
end
if #KEYS ~= 4 + 2 * n or #ARGV ~= 6 + n then
  return fail('expected 4 + 2n keys and 6 + n arguments')
end

local flat = redis.call('HGETALL', KEYS[4])
if #flat == 0 then
  if sweep then
    return {'NOT_FOUND', '', 0}
  end
  redis.call('HSET', KEYS[4], 'state', 'released', 'reason', reason, 'released_at', ARGV[2])
  redis.call('EXPIRE', KEYS[4], ARGV[3])
  redis.call('ZREM', KEYS[3], rid)
  return {'RELEASED', 'absent', 0}
end
local rec, units = {}, {}
for j = 1, #flat, 2 do
  local field, value = flat[j], flat[j + 1]
  if string.sub(field, 1, 2) == 'u:' then
    units[string.sub(field, 3)] = value
  else
    rec[field] = value
  end
end
if rec.state == 'released' then
  return {'RELEASED', 'replay', 0}
end
if rec.state == 'confirmed' then
  return {'CONFIRMED', '', 0}
end
local expires = tonumber(rec.expires_at)
if sweep and expires > expired_before then
  return {'NOT_EXPIRED', '', expires}
end
local index = {}
for i = 1, n do
  index[ARGV[6 + i]] = i
end
for sku, _ in pairs(units) do
  if not index[sku] then
    return {'KEYS_MISMATCH', sku, 0}
  end
end

-- writes
local customer = rec.customer
for sku, u in pairs(units) do
  local stock, held = KEYS[3 + 2 * index[sku]], KEYS[4 + 2 * index[sku]]
  redis.call('HINCRBY', stock, 'available', u)
  redis.call('HINCRBY', stock, 'reserved', '-' .. u)
  if redis.call('HINCRBY', held, customer, '-' .. u) <= 0 then
    redis.call('HDEL', held, customer)
  end
end
if rec.uses == '1' then
  redis.call('HINCRBY', KEYS[1], 'uses', '-1')
  if redis.call('HINCRBY', KEYS[2], customer, '-1') <= 0 then
    redis.call('HDEL', KEYS[2], customer)
  end
end
local budget = tonumber(rec.budget or '0')
if budget > 0 then
  redis.call('HINCRBY', KEYS[1], 'budget_spent', '-' .. str(budget))
end
redis.call('HSET', KEYS[4], 'state', 'released', 'reason', reason, 'released_at', ARGV[2])
redis.call('EXPIRE', KEYS[4], ARGV[3])
redis.call('ZREM', KEYS[3], rid)
return {'RELEASED', 'released', 0}
