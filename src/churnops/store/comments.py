"""Comment analyses in the store's database (table comment_analyses): written in small transactions, read back for re-runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from churnops.store.engine import create_store_engine, migrate
from churnops.store.schema import COMMENT_ANALYSES


def open_store(url: str) -> Engine:
    """An engine on the prediction store's database, migrated to the newest schema (which has comment_analyses)."""
    engine = create_store_engine(url)
    migrate(engine)
    return engine


def write_analyses(engine: Engine, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert analyses in one transaction; a row whose id is already stored is left as it is (a replay adds nothing)."""
    batch = [dict(row) for row in rows]
    if not batch:
        return 0
    columns = set(COMMENT_ANALYSES.columns.keys())
    batch = [{key: value for key, value in row.items() if key in columns} for row in batch]
    with engine.begin() as connection:
        existing = set(connection.scalars(sa.select(COMMENT_ANALYSES.c.id).where(COMMENT_ANALYSES.c.id.in_([row["id"] for row in batch]))))
        fresh = [row for row in batch if row["id"] not in existing]
        if fresh:
            connection.execute(COMMENT_ANALYSES.insert(), fresh)
    return len(fresh)


def analysed_comment_ids(engine: Engine, *, model: str, prompt_name: str, prompt_version: int) -> set[str]:
    """Comment ids already analysed successfully by this model and prompt version: a re-run skips them."""
    query = sa.select(COMMENT_ANALYSES.c.comment_id).where(
        COMMENT_ANALYSES.c.ok.is_(True),
        COMMENT_ANALYSES.c.model == model,
        COMMENT_ANALYSES.c.prompt_name == prompt_name,
        COMMENT_ANALYSES.c.prompt_version == prompt_version,
        COMMENT_ANALYSES.c.comment_id.is_not(None),
    )
    with engine.connect() as connection:
        return {str(value) for value in connection.scalars(query)}


def read_analyses(engine: Engine, *, comment_ids: Iterable[str] | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
    """Stored analyses, oldest first, optionally only these comment ids or one batch run."""
    query = sa.select(COMMENT_ANALYSES).order_by(COMMENT_ANALYSES.c.analyzed_at, COMMENT_ANALYSES.c.id)
    if comment_ids is not None:
        query = query.where(COMMENT_ANALYSES.c.comment_id.in_(list(comment_ids)))
    if run_id is not None:
        query = query.where(COMMENT_ANALYSES.c.run_id == run_id)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
