"""The coupons' Lua scripts, one file each (a package so they ship as package data)."""
