"""Coupons: codes, claims (领券) and wallets."""
