"""The Store port's SQLAlchemy adapter: tables, the store, and Alembic migrations."""
