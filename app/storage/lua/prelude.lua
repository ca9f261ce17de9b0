-- prelude.lua: the helpers every script of the service uses, put after each
-- script's header comment by app.storage.redis_calls.lua_script, which also
-- defines SCRIPT (the script's name) just before them.

-- an error reply "ERR <script>: <msg>", sent before any write
local function fail(msg)
  return redis.error_reply('ERR ' .. SCRIPT .. ': ' .. msg)
end

-- a non-negative integer written without sign, leading zeros or more than 15
-- digits (exact in a Lua number), or nil
local function int(s)
  if type(s) ~= 'string' or #s > 15 or not (s == '0' or string.match(s, '^[1-9]%d*$')) then
    return nil
  end
  return tonumber(s)
end

-- an optional integer: "" is none (ok, nil); else ok and its value, or not ok
local function opt_int(s)
  if s == '' then
    return true, nil
  end
  local v = int(s)
  return v ~= nil, v
end

-- an integer as a Redis string, never in exponent notation
local function str(x)
  return string.format('%d', x)
end
