"""Flash-sale stock and reservations (秒杀): Redis counters behind a small interface."""
