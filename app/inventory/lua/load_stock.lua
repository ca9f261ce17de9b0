--[[
load_stock.lua: create or adjust the stock of a flash-sale promotion's items.

One promotion (one cluster slot). Marks the promotion as loaded (loaded_at),
then for every item:
  * no stock hash yet: initial = available = stock, reserved = sold = 0;
  * a stock hash already there: the new initial is the requested stock, but
    never less than reserved + sold (what is taken stays taken; available
    never goes below 0): initial = max(stock, reserved + sold),
    available = initial - reserved - sold. Reserved and sold are never
    touched, so a reload with the same stock changes nothing and a restart
    of the service never resets a sale in progress.
An sku left out of the list keeps its stock.

KEYS[1]       <prefix>{p:<id>}:promotion      hash  loaded_at
KEYS[2]       <prefix>{p:<id>}:skus           set   skus with stock
KEYS[2+i]     <prefix>{p:<id>}:stock:<sku i>  hash  initial, available, reserved, sold, limit
              (i = 1..n)

ARGV[1]       now, epoch milliseconds (stored as loaded_at on the first load)
ARGV[2]       n, the number of items
ARGV[3i]      sku i
ARGV[3i+1]    stock i: the wanted initial stock, an integer >= 0
ARGV[3i+2]    per-customer limit i: an integer >= 0, or "" for none
ARGV[3n+3]    optional: "1" to adjust a loaded promotion only. Without its loaded_at
              marker (a Redis that lost its data) nothing is written and the reply
              is {"NOT_LOADED"}: the counters must then be rebuilt from the ledger
              (rebuild.lua), never loaded afresh, or a sale would start over.

Returns a flat array, four entries per item in the order given:
  sku, status, initial, available
where status is
  "created"    first load
  "unchanged"  the stock already was this
  "adjusted"   initial moved to the requested stock
  "clamped"    the requested stock is below reserved + sold: initial set to
               reserved + sold, available 0
Malformed arguments: an error reply "ERR load_stock: ...", before any write.
]]

local now = int(ARGV[1])
local n = int(ARGV[2])
if not now or not n then
  return fail('now and n must be non-negative integers')
end
if #KEYS ~= 2 + n or (#ARGV ~= 2 + 3 * n and #ARGV ~= 3 + 3 * n) then
  return fail('expected ' .. (2 + n) .. ' keys and ' .. (2 + 3 * n) .. ' arguments (+1)')
end
local loaded_only = ARGV[3 + 3 * n] == '1'

-- every check before the first write
local seen = {}
for i = 1, n do
  local sku, stock, limit = ARGV[3 * i], ARGV[3 * i + 1], ARGV[3 * i + 2]
  if sku == '' then
    return fail('empty sku')
  end
  if seen[sku] then
    return fail('sku ' .. sku .. ' listed twice')
  end
  seen[sku] = true
  if not int(stock) then
    return fail('stock of ' .. sku .. ' must be an integer >= 0')
  end
  if limit ~= '' and not int(limit) then
    return fail('per-customer limit of ' .. sku .. ' must be an integer >= 0 or empty')
  end
end

if loaded_only and redis.call('HEXISTS', KEYS[1], 'loaded_at') == 0 then
  return {'NOT_LOADED'}
end

-- writes
redis.call('HSETNX', KEYS[1], 'loaded_at', ARGV[1])
local out = {}
for i = 1, n do
  local sku, stock, limit = ARGV[3 * i], int(ARGV[3 * i + 1]), ARGV[3 * i + 2]
  local key = KEYS[2 + i]
  local cur = redis.call('HMGET', key, 'initial', 'reserved', 'sold')
  local status, initial, available
  if not cur[1] then
    initial, available, status = stock, stock, 'created'
    redis.call('HSET', key, 'initial', str(stock), 'available', str(stock),
      'reserved', '0', 'sold', '0', 'limit', limit)
    redis.call('SADD', KEYS[2], sku)
  else
    local old = tonumber(cur[1])
    local taken = tonumber(cur[2] or '0') + tonumber(cur[3] or '0')
    initial = math.max(stock, taken)
    available = initial - taken
    if stock < taken then
      status = 'clamped'
    elseif initial == old then
      status = 'unchanged'
    else
      status = 'adjusted'
    end
    redis.call('HSET', key, 'initial', str(initial), 'available', str(available), 'limit', limit)
  end
  out[#out + 1] = sku
  out[#out + 1] = status
  out[#out + 1] = initial
  out[#out + 1] = available
end
return out
