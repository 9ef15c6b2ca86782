"""The test PostgreSQL server (CHURNOPS_TEST_POSTGRES_URL): whether it answers, scratch databases on it, and row counts of a store."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import sqlalchemy as sa

POSTGRES_URL = os.environ.get("CHURNOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_available() -> bool:
    try:
        psycopg2.connect(POSTGRES_URL, connect_timeout=3).close()
    except Exception:  # noqa: BLE001 - any failure means "not available here"
        return False
    return True


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new empty database on the test server, dropped afterwards; yields its URL."""
    name = f"churnops_it_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(POSTGRES_URL)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def count_rows(url: str, table: str = "predictions") -> tuple[int, int]:
    """(rows, distinct ids) in a store table, read straight from the database."""
    key = "id" if table == "predictions" else "feedback_id"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            total = connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()  # noqa: S608 - fixed table names
            distinct = connection.execute(sa.text(f"SELECT COUNT(DISTINCT {key}) FROM {table}")).scalar_one()  # noqa: S608
    finally:
        engine.dispose()
    return int(total), int(distinct)
