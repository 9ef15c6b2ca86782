"""Alembic environment of the prediction store.

`PredictionStore` runs it with an open connection in `config.attributes["connection"]`, inside
its own transaction. For hand use (e.g. `--autogenerate` while writing a new revision) it also
takes a URL: `alembic -x url=sqlite:///predictions.db ...` with script_location pointing here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from churnops.store import METADATA, VERSION_TABLE


def run_migrations(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite can only alter tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


def run_with_url() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("Pass the store URL: alembic -x url=sqlite:///predictions.db upgrade head")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=METADATA, version_table=VERSION_TABLE, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        run_migrations(connection)
        connection.commit()
    engine.dispose()


_connection = context.config.attributes.get("connection")
if _connection is not None:
    run_migrations(_connection)
else:
    run_with_url()
