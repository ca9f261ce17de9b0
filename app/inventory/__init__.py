"""Flash-sale stock, usage counts and budgets (秒杀): Redis counters behind a small interface.

``stock.Inventory`` is the interface and its records; ``redis_stock.RedisStock``
implements it with the Lua scripts in ``lua/`` (a single Redis, a Redis
Cluster, or fakeredis); ``keys`` names the keys; ``redis_readings`` is the
quote path's reader; ``recover`` rebuilds the counters from the ledger and
reconciles the two. docs/inventory.md records the design and the durability
model.
"""
