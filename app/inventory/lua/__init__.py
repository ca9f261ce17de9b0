"""The inventory's Lua scripts, one file each (a package so they ship as package data)."""
