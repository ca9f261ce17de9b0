"""Promotions: the stored document (what admins write, the database stores and the
snapshot loads), the repository port, the admin service and the rules snapshot."""
