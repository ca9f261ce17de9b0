"""Storage: SQLAlchemy tables, Alembic migrations, the promotion repository.

``db.py`` makes the engine and runs migrations; ``tables.py`` declares the
tables; ``repository.py`` (promotions and codes) and ``ledger.py``
(reservations and orders) are the only code that queries them.
"""
