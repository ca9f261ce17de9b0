--[[
attempts.lua: count failed code attempts of ONE subject (a customer or an API
key) in a fixed window, atomically (the count and its expiry together, so a
counter can never be left without one).

KEYS[1]   <prefix>attempts:<kind>:<subject>   string  failures in the current window
ARGV[1]   failures to add (>= 0; 0 only reads)
ARGV[2]   window, milliseconds (> 0)

Returns {failures in the window now, milliseconds until the window ends}.
]]

local add, window = tonumber(ARGV[1]), tonumber(ARGV[2])
if #KEYS ~= 1 or not add or add < 0 or not window or window <= 0 then
  return fail('expected 1 key, a count >= 0 and a window > 0')
end
local count
if add > 0 then
  count = redis.call('INCRBY', KEYS[1], add)
  if count == add then
    redis.call('PEXPIRE', KEYS[1], window)
  end
else
  count = tonumber(redis.call('GET', KEYS[1]) or '0')
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  if count > 0 then
    redis.call('PEXPIRE', KEYS[1], window)
  end
  ttl = window
end
return {count, ttl}
