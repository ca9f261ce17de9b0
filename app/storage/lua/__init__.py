"""Lua shared by every script of the service (``app.storage.redis_calls.lua_script``)."""
