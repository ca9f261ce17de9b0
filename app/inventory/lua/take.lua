--[[
take.lua: take what one reservation needs from ONE promotion (one cluster
slot), all or nothing.

Order: (1) idempotency: has this reservation already been here? then answer
as before and write nothing, so a script that runs twice (redis-py retries a
command after a connection error or a timeout) takes once; (2) every check:
the promotion is loaded and inside its window, each sku has the units and the
customer stays within the sku's limit, the use counts and the budget allow
it; (3) only then the writes, all of them.

KEYS[1]        <prefix>{p:<id>}:promotion       hash  loaded_at, uses, budget_spent
KEYS[2]        <prefix>{p:<id>}:customer_uses   hash  customer id -> uses
KEYS[3]        <prefix>{p:<id>}:open            zset  reservation id -> expires_at ms
KEYS[4]        <prefix>{p:<id>}:res:<rid>       hash  this reservation's record in this slot
KEYS[3+2i]     <prefix>{p:<id>}:stock:<sku i>   hash  initial, available, reserved, sold, limit
KEYS[4+2i]     <prefix>{p:<id>}:held:<sku i>    hash  customer id -> units reserved + sold
               (i = 1..n)

ARGV[1]        reservation id
ARGV[2]        customer id (not empty)
ARGV[3]        now, epoch ms
ARGV[4]        expires_at, epoch ms (> now)
ARGV[5]        window start, epoch ms inclusive, or "" for none
ARGV[6]        window end, epoch ms exclusive, or "" for none
ARGV[7]        "1": take one use of the promotion; "0": no use
ARGV[8]        max_uses, or "" for no limit
ARGV[9]        max_uses_per_customer, or "" for no limit
ARGV[10]       budget amount to spend (minor units, >= 0; 0: none)
ARGV[11]       budget, or "" for no limit (spent is counted all the same)
ARGV[12]       n, the number of flash-sale lines
ARGV[10+3i]    sku i
ARGV[11+3i]    units i (>= 1)
ARGV[12+3i]    per-customer limit of sku i, or "" for none

Returns {code, detail, number}:
  {"OK", "taken", 0}                  taken now
  {"OK", "replay", 0}                 this reservation already took here (it is
                                      taken or confirmed); nothing written
  {"RELEASED", reason, 0}             this reservation was released here
                                      (cancelled / expired / compensated / ...);
                                      it takes nothing any more; nothing written
  {"NOT_LOADED", sku or "", 0}        the promotion ("") or this sku has no
                                      counters in this Redis
  {"NOT_ACTIVE", "not_started"|"ended", 0}
  {"SOLD_OUT", sku, available}        fewer units available than wanted
  {"LIMIT_REACHED", sku, remaining}   the customer would hold more than the limit
  {"USAGE_LIMIT", "max_uses"|"max_uses_per_customer", 0}
  {"BUDGET_EXHAUSTED", "", remaining} less budget left than the amount
Every code but OK writes nothing. Malformed arguments: an error reply
"ERR take: ..." before any write.
]]

local rid, customer = ARGV[1], ARGV[2]
local now, expires = int(ARGV[3]), int(ARGV[4])
local ok_start, starts = opt_int(ARGV[5])
local ok_end, ends = opt_int(ARGV[6])
local take_use = ARGV[7] == '1'
local ok_max, max_uses = opt_int(ARGV[8])
local ok_cmax, max_customer_uses = opt_int(ARGV[9])
local amount = int(ARGV[10])
local ok_budget, budget = opt_int(ARGV[11])
local n = int(ARGV[12])

if not n or #KEYS ~= 4 + 2 * n or #ARGV ~= 12 + 3 * n then
  return fail('expected 4 + 2n keys and 12 + 3n arguments')
end
if rid == '' or customer == '' then
  return fail('reservation id and customer id must not be empty')
end
if not now or not expires or expires <= now then
  return fail('now and expires_at must be integers, expires_at after now')
end
if not (ok_start and ok_end and ok_max and ok_cmax and ok_budget and amount) then
  return fail('window, limits and amounts must be integers or empty')
end
if ARGV[7] ~= '0' and ARGV[7] ~= '1' then
  return fail('use flag must be 0 or 1')
end
local seen = {}
for i = 1, n do
  local sku, units, limit = ARGV[10 + 3 * i], int(ARGV[11 + 3 * i]), ARGV[12 + 3 * i]
  if sku == '' or seen[sku] then
    return fail('sku empty or listed twice: ' .. sku)
  end
  seen[sku] = true
  if not units or units < 1 then
    return fail('units of ' .. sku .. ' must be an integer >= 1')
  end
  local ok_limit = opt_int(limit)
  if not ok_limit then
    return fail('limit of ' .. sku .. ' must be an integer or empty')
  end
end

-- (1) idempotency, before anything else
local state = redis.call('HGET', KEYS[4], 'state')
if state == 'taken' or state == 'confirmed' then
  return {'OK', 'replay', 0}
end
if state == 'released' then
  return {'RELEASED', redis.call('HGET', KEYS[4], 'reason') or '', 0}
end

-- (2) every check, before the first write
if redis.call('HEXISTS', KEYS[1], 'loaded_at') == 0 then
  return {'NOT_LOADED', '', 0}
end
if starts and now < starts then
  return {'NOT_ACTIVE', 'not_started', 0}
end
if ends and now >= ends then
  return {'NOT_ACTIVE', 'ended', 0}
end
for i = 1, n do
  local sku, units, limit = ARGV[10 + 3 * i], int(ARGV[11 + 3 * i]), ARGV[12 + 3 * i]
  local available = redis.call('HGET', KEYS[3 + 2 * i], 'available')
  if not available then
    return {'NOT_LOADED', sku, 0}
  end
  available = tonumber(available)
  if available < units then
    return {'SOLD_OUT', sku, available}
  end
  if limit ~= '' then
    local held = tonumber(redis.call('HGET', KEYS[4 + 2 * i], customer) or '0')
    if held + units > int(limit) then
      return {'LIMIT_REACHED', sku, math.max(int(limit) - held, 0)}
    end
  end
end
if take_use then
  local uses = tonumber(redis.call('HGET', KEYS[1], 'uses') or '0')
  if max_uses and uses + 1 > max_uses then
    return {'USAGE_LIMIT', 'max_uses', 0}
  end
  local customer_uses = tonumber(redis.call('HGET', KEYS[2], customer) or '0')
  if max_customer_uses and customer_uses + 1 > max_customer_uses then
    return {'USAGE_LIMIT', 'max_uses_per_customer', 0}
  end
end
if amount > 0 and budget then
  local spent = tonumber(redis.call('HGET', KEYS[1], 'budget_spent') or '0')
  if spent + amount > budget then
    return {'BUDGET_EXHAUSTED', '', math.max(budget - spent, 0)}
  end
end

-- (3) writes: all of them
for i = 1, n do
  local sku, units = ARGV[10 + 3 * i], ARGV[11 + 3 * i]
  redis.call('HINCRBY', KEYS[3 + 2 * i], 'available', '-' .. units)
  redis.call('HINCRBY', KEYS[3 + 2 * i], 'reserved', units)
  redis.call('HINCRBY', KEYS[4 + 2 * i], customer, units)
  redis.call('HSET', KEYS[4], 'u:' .. sku, units)
end
if take_use then
  redis.call('HINCRBY', KEYS[1], 'uses', '1')
  redis.call('HINCRBY', KEYS[2], customer, '1')
end
if amount > 0 then
  redis.call('HINCRBY', KEYS[1], 'budget_spent', ARGV[10])
end
redis.call('HSET', KEYS[4], 'state', 'taken', 'customer', customer, 'taken_at', ARGV[3],
  'expires_at', ARGV[4], 'uses', ARGV[7], 'budget', ARGV[10])
redis.call('ZADD', KEYS[3], ARGV[4], rid)
return {'OK', 'taken', 0}
