"""The store's database: URL checks, engines (SQLite WAL, PostgreSQL with quick outage detection), migrations."""

from __future__ import annotations

import importlib.util
import json
import re
import threading
import zlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    InvalidRequestError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from churnops.errors import ConfigError
from churnops.store.schema import VERSION_TABLE

MIGRATIONS = Path(__file__).with_name("migrations")
# libpq options that make an outage show within seconds instead of minutes (a URL's own values win).
POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 3,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
    "application_name": "churnops-store",
}
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Serialises migrations from several workers on one PostgreSQL database.
_MIGRATION_LOCK_KEY = zlib.crc32(VERSION_TABLE.encode())
# Alembic's `context` is module-global: two stores in one process must not migrate at once.
_ALEMBIC_LOCK = threading.Lock()


def _redact(url: str) -> str:
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)


def _parse_url(url: str) -> URL:
    """Only SQLite files and PostgreSQL: replays rely on their insert-or-ignore statements."""
    hint = "Set CHURNOPS_STORE_URL (or --store-url) to sqlite:///path/to/predictions.db or postgresql://user:password@host:5432/database."
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"Prediction store URL {_redact(url)!r} is not a database URL ({exc}). {hint}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"Prediction store URL {_redact(url)!r} uses {backend!r}; only SQLite and PostgreSQL are supported. {hint}")
    if backend == "sqlite" and (parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"):
        raise ConfigError(f"Prediction store URL {_redact(url)!r} is an in-memory SQLite database, which would lose every record. {hint}")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername=f"postgresql+{_installed_postgres_driver()}")
    return parsed


def _installed_postgres_driver() -> str:
    """The driver a bare postgresql:// URL uses: SQLAlchemy 2.1 assumes psycopg (3); the API image ships psycopg2 only."""
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return driver
    return "psycopg"  # neither: create_store_engine says to install a driver


def create_store_engine(url: str) -> Engine:
    """An engine for the store: WAL on SQLite, quick outage detection on PostgreSQL."""
    parsed = _parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed)
        return _postgres_engine(parsed)
    except (ArgumentError, NoSuchModuleError, InvalidRequestError, ImportError) as exc:
        raise ConfigError(
            f"Prediction store URL {_redact(url)!r} cannot be used: {exc}. Install its driver or use postgresql:// (psycopg2)."
        ) from None


def _dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _sqlite_engine(url: URL) -> Engine:
    if url.database is None:  # _parse_url refuses such URLs; the check also narrows the type
        raise ConfigError(f"Prediction store URL {url.render_as_string(hide_password=True)!r} names no SQLite database file.")
    try:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # connecting fails too; the store spools until the folder can be created
    engine = sa.create_engine(url, json_serializer=_dump_json, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    sa.event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the monitoring read while the writer writes; NORMAL sync is durable enough with WAL."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _postgres_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if url.get_driver_name() in ("psycopg2", "psycopg"):
        connect_args = {key: value for key, value in POSTGRES_CONNECT_ARGS.items() if key not in url.query}
    return sa.create_engine(url, pool_pre_ping=True, json_serializer=_dump_json, connect_args=connect_args)


def is_outage(exc: BaseException) -> bool:
    """Errors that mean "the database cannot be reached right now", as opposed to a refused row."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def describe_error(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else 'no details'}"


def migrate(engine: Engine) -> None:
    """Bring the store's schema to the newest migration; raises SQLAlchemyError when unreachable."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    with _ALEMBIC_LOCK, engine.connect() as connection:
        _lock_for_migration(connection)
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise ConfigError(
                f"Prediction store {engine.url.render_as_string(hide_password=True)} cannot be migrated: {exc}. "
                "It may belong to a newer churnops; point CHURNOPS_STORE_URL at another database or upgrade churnops."
            ) from exc
        connection.commit()


def _lock_for_migration(connection: sa.Connection) -> None:
    """Several workers may start at once: one migrates, the others wait and find the schema at head."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})


# --- the store -------------------------------------------------------------------------------
