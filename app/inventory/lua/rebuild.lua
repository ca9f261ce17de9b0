--[[
rebuild.lua: build ONE promotion's counters (one cluster slot) from the
ledger in one atomic step. Runs only while the promotion's loaded_at marker
is missing: a Redis that came back empty, or a forced rebuild (the caller
removes the marker first). Without the marker every take answers NOT_LOADED,
so nothing can be taken between the caller's read of the ledger and this
script; the marker is written last, in the same step.

The ledger gives what confirmed orders hold (sold units, holdings, uses,
budget) and every open reservation (pending or reserved) with what it took.
An open reservation whose record here already says "confirmed" counts as
sold (its confirmation reached Redis before the ledger); one that says
"released" counts nothing (its release is on its way to the ledger). Every
other open reservation gets a fresh "taken" record and its place in `open`,
so confirm, cancel and the expiry sweep keep working. Per sku:
initial = max(stock, reserved + sold), available = initial - reserved - sold.

KEYS[1]        <prefix>{p:<id>}:promotion       hash  loaded_at, uses, budget_spent
KEYS[2]        <prefix>{p:<id>}:customer_uses   hash  customer id -> uses
KEYS[3]        <prefix>{p:<id>}:skus            set   skus with stock
KEYS[4]        <prefix>{p:<id>}:open            zset  reservation id -> expires_at ms
KEYS[3+2i]     <prefix>{p:<id>}:stock:<sku i>   hash  (i = 1..n)
KEYS[4+2i]     <prefix>{p:<id>}:held:<sku i>    hash
KEYS[4+2n+j]   <prefix>{p:<id>}:res:<rid j>     hash  (j = 1..m, the open reservations)

ARGV[1]        now, epoch ms
ARGV[2]        n, the number of skus (every sku of the promotion, of the ledger and
               of the open reservations)
ARGV[3]        m, the number of open reservations
ARGV[4]        uses held by confirmed orders
ARGV[5]        budget spent by confirmed orders
ARGV[6]        k, customers with uses by confirmed orders; then k pairs: customer, uses
then, per sku (n times):
               sku, stock (the promotion's, 0 for an sku it no longer lists),
               per-customer limit or "", units sold, h; then h pairs: customer, units
               (what confirmed orders hold)
then, per open reservation (m times, in the order of its KEYS):
               reservation id, customer, expires_at ms, use "0"|"1", budget amount,
               u; then u pairs: sku, units

Returns {"ALREADY"} when the promotion is loaded (nothing written); else a
flat array, six entries per sku in the order given:
  sku, status, initial, available, reserved, sold
with status "rebuilt", or "clamped" when stock < reserved + sold.
Malformed arguments: an error reply "ERR rebuild: ...", before any write.
]]

local pos = 1
local function arg()
  local v = ARGV[pos]
  pos = pos + 1
  return v
end

local now, n, m = int(arg()), int(arg()), int(arg())
if not now or not n or not m then
  return fail('now, n and m must be non-negative integers')
end
if #KEYS ~= 4 + 2 * n + m then
  return fail('expected 4 + 2n + m keys')
end
local uses, budget, k = int(arg()), int(arg()), int(arg())
if not uses or not budget or not k then
  return fail('uses, budget and k must be non-negative integers')
end

-- every check before the first write
local customer_uses = {}
for _ = 1, k do
  local customer, count = arg(), int(arg())
  if not customer or customer == '' or not count then
    return fail('customer uses must be pairs of a customer and an integer')
  end
  customer_uses[customer] = (customer_uses[customer] or 0) + count
end
local skus, index = {}, {}
for i = 1, n do
  local sku, stock, limit, sold, h = arg(), int(arg()), arg(), int(arg()), int(arg())
  if not sku or sku == '' or index[sku] then
    return fail('sku ' .. i .. ' empty or listed twice')
  end
  if not stock or not sold or not h or limit == nil or (limit ~= '' and not int(limit)) then
    return fail('stock, limit, sold and holders of ' .. sku .. ' must be integers')
  end
  local held = {}
  for _ = 1, h do
    local customer, units = arg(), int(arg())
    if not customer or customer == '' or not units then
      return fail('holdings of ' .. sku .. ' must be pairs of a customer and an integer')
    end
    held[customer] = (held[customer] or 0) + units
  end
  index[sku] = i
  skus[i] = {sku = sku, stock = stock, limit = limit, sold = sold, reserved = 0, held = held}
end
local open = {}
for j = 1, m do
  local rid, customer, expires, use = arg(), arg(), int(arg()), arg()
  local amount, u = int(arg()), int(arg())
  if not rid or rid == '' or not customer or customer == '' or not expires
    or (use ~= '0' and use ~= '1') or not amount or not u then
    return fail('open reservation ' .. j .. ' is malformed')
  end
  local units = {}
  for _ = 1, u do
    local sku, count = arg(), int(arg())
    if not sku or not index[sku] or not count or count < 1 then
      return fail('reservation ' .. rid .. ': an sku not listed or units < 1')
    end
    units[sku] = (units[sku] or 0) + count
  end
  open[j] = {rid = rid, customer = customer, expires = expires, use = use, amount = amount,
    units = units}
end
if pos ~= #ARGV + 1 then
  return fail('expected ' .. (pos - 1) .. ' arguments, got ' .. #ARGV)
end

if redis.call('HEXISTS', KEYS[1], 'loaded_at') == 1 then
  return {'ALREADY'}
end

-- what the open reservations hold, as their own records here decide
for j, r in ipairs(open) do
  r.state = redis.call('HGET', KEYS[4 + 2 * n + j], 'state')
  if r.state ~= 'released' then
    for sku, count in pairs(r.units) do
      local s = skus[index[sku]]
      if r.state == 'confirmed' then
        s.sold = s.sold + count
      else
        s.reserved = s.reserved + count
      end
      s.held[r.customer] = (s.held[r.customer] or 0) + count
    end
    if r.use == '1' then
      uses = uses + 1
      customer_uses[r.customer] = (customer_uses[r.customer] or 0) + 1
    end
    budget = budget + r.amount
  end
end

-- writes
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
local out = {}
for i, s in ipairs(skus) do
  local stock_key, held_key = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local taken = s.reserved + s.sold
  local initial = math.max(s.stock, taken)
  local status = 'rebuilt'
  if s.stock < taken then
    status = 'clamped'
  end
  redis.call('DEL', stock_key, held_key)
  redis.call('HSET', stock_key, 'initial', str(initial), 'available', str(initial - taken),
    'reserved', str(s.reserved), 'sold', str(s.sold), 'limit', s.limit)
  for customer, units in pairs(s.held) do
    if units > 0 then
      redis.call('HSET', held_key, customer, str(units))
    end
  end
  redis.call('SADD', KEYS[3], s.sku)
  out[#out + 1] = s.sku
  out[#out + 1] = status
  out[#out + 1] = initial
  out[#out + 1] = initial - taken
  out[#out + 1] = s.reserved
  out[#out + 1] = s.sold
end
for customer, count in pairs(customer_uses) do
  if count > 0 then
    redis.call('HSET', KEYS[2], customer, str(count))
  end
end
for j, r in ipairs(open) do
  if r.state ~= 'released' and r.state ~= 'confirmed' then
    local key = KEYS[4 + 2 * n + j]
    redis.call('DEL', key)
    redis.call('HSET', key, 'state', 'taken', 'customer', r.customer, 'taken_at', ARGV[1],
      'expires_at', str(r.expires), 'uses', r.use, 'budget', str(r.amount))
    for sku, count in pairs(r.units) do
      redis.call('HSET', key, 'u:' .. sku, str(count))
    end
    redis.call('ZADD', KEYS[4], r.expires, r.rid)
  end
end
redis.call('HSET', KEYS[1], 'uses', str(uses), 'budget_spent', str(budget),
  'rebuilt_at', ARGV[1], 'loaded_at', ARGV[1])
return out
