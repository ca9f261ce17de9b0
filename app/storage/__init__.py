"""Storage: SQLAlchemy tables, Alembic migrations, the promotion repository.

``db.py`` makes the engine and runs migrations; ``tables.py`` declares the
tables; ``repository.py`` is the only code that queries them.
"""
