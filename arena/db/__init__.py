"""Persistence: SQLAlchemy models, the engine, and repository functions."""

from arena.db.engine import make_engine, migrate, session_factory

__all__ = ["make_engine", "migrate", "session_factory"]
