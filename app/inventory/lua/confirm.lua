--[[
confirm.lua: a reservation is paid for; in ONE promotion (one cluster slot)
move what it took from reserved to sold. Idempotent.

Holdings, use counts and budget stay as they are: they already count what
the reservation took, and a confirmed order keeps it. The record stays
`retention` seconds after the confirmation, so a late retry of take,
confirm or release still finds it.

KEYS[1]        <prefix>{p:<id>}:open            zset  reservation id -> expires_at ms
KEYS[2]        <prefix>{p:<id>}:res:<rid>       hash  this reservation's record in this slot
KEYS[2+i]      <prefix>{p:<id>}:stock:<sku i>   hash  initial, available, reserved, sold, limit
               (i = 1..n: at least every sku the record holds)

ARGV[1]        reservation id
ARGV[2]        now, epoch ms: the time the caller decided to confirm (pass the same
               value in every slot and on every retry of one confirmation)
ARGV[3]        retention of the record after confirming, seconds (> 0)
ARGV[4]        n, the number of skus given
ARGV[4+i]      sku i

Returns {code, detail, number}:
  {"CONFIRMED", "confirmed", 0}   confirmed now
  {"CONFIRMED", "replay", 0}      was confirmed already; nothing written
  {"RELEASED", reason, 0}         was released (cancelled / expired /
                                  compensated / ...): cannot be confirmed
  {"EXPIRED", "", expires_at}     still taken but now >= expires_at: not
                                  confirmed; the expiry sweep releases it
  {"NOT_FOUND", "", 0}            this reservation took nothing here
  {"KEYS_MISMATCH", sku, 0}       the record holds an sku not given: read the
                                  record again and retry
Every code but CONFIRMED/"confirmed" writes nothing. Malformed arguments: an
error reply "ERR confirm: ..." before any write.
]]

local rid, now, retention, n = ARGV[1], int(ARGV[2]), int(ARGV[3]), int(ARGV[4])
if not now or not retention or retention < 1 or not n then
  return fail('now, retention and n must be integers, retention >= 1')
end
if #KEYS ~= 2 + n or #ARGV ~= 4 + n then
  return fail('expected 2 + n keys and 4 + n arguments')
end

local flat = redis.call('HGETALL', KEYS[2])
if #flat == 0 then
  return {'NOT_FOUND', '', 0}
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
if rec.state == 'confirmed' then
  return {'CONFIRMED', 'replay', 0}
end
if rec.state == 'released' then
  return {'RELEASED', rec.reason or '', 0}
end
local expires = tonumber(rec.expires_at)
if now >= expires then
  return {'EXPIRED', '', expires}
end
local index = {}
for i = 1, n do
  index[ARGV[4 + i]] = i
end
for sku, _ in pairs(units) do
  if not index[sku] then
    return {'KEYS_MISMATCH', sku, 0}
  end
end

-- writes
for sku, u in pairs(units) do
  redis.call('HINCRBY', KEYS[2 + index[sku]], 'reserved', '-' .. u)
  redis.call('HINCRBY', KEYS[2 + index[sku]], 'sold', u)
end
redis.call('HSET', KEYS[2], 'state', 'confirmed', 'confirmed_at', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[1], rid)
return {'CONFIRMED', 'confirmed', 0}
