"""Revisions of the prediction store schema (Alembic skips this file)."""
