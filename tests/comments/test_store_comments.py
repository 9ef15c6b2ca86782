"""Comment analyses in the store's database, on SQLite and PostgreSQL: written once, read back, found for re-runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from churnops.store.comments import analysed_comment_ids, open_store, read_analyses, write_analyses
from tests.support.databases import postgres_available, scratch_database
from tests.support.prerequisites import require


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'predictions.db'}"
        return
    require(postgres_available(), "PostgreSQL is not reachable on 127.0.0.1:5432")
    with scratch_database() as url:
        yield url


def row(number: int, *, ok: bool = True, version: int = 1, model: str = "smollm2:135m") -> dict[str, object]:
    return {
        "id": f"a{number:031d}",
        "analyzed_at": datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=number),
        "comment_id": f"c-{number}",
        "customer_id": "7590-VHVEG",
        "comment_date": "2026-11-30",
        "text": f"Comment {number}: l'été dernier, trop cher",
        "ok": ok,
        "sentiment": "negative" if ok else None,
        "churn_risk": "medium" if ok else None,
        "reasons": ["price"] if ok else None,
        "summary": "Too expensive." if ok else None,
        "error": None if ok else "attempt 2: the answer is not a valid analysis",
        "model": model,
        "prompt_name": "comment-analysis",
        "prompt_version": version,
        "attempts": 1 if ok else 2,
        "latency_ms": 812.5,
        "prompt_tokens": 150,
        "completion_tokens": 60,
        "trace_id": f"tr-{number}",
        "run_id": "run-1",
        "source": "file:comments.csv",
        "not_a_column": "ignored",
    }


def test_analyses_are_stored_once_and_read_back_whole(store_url: str) -> None:
    engine = open_store(store_url)
    assert write_analyses(engine, [row(1), row(2, ok=False)]) == 2
    assert write_analyses(engine, [row(1), row(3)]) == 1  # a replayed row adds nothing
    stored = read_analyses(engine)
    assert [item["comment_id"] for item in stored] == ["c-1", "c-2", "c-3"]
    assert stored[0]["reasons"] == ["price"] and stored[0]["text"].endswith("l'été dernier, trop cher")
    assert stored[0]["analyzed_at"].tzinfo is not None
    assert stored[1]["ok"] is False and stored[1]["reasons"] is None
    assert [item["comment_id"] for item in read_analyses(engine, comment_ids=["c-3"])] == ["c-3"]
    engine.dispose()


def test_only_successful_analyses_by_the_same_model_and_prompt_version_count_as_done(store_url: str) -> None:
    engine = open_store(store_url)
    write_analyses(engine, [row(1), row(2, ok=False), row(3, version=2), row(4, model="qwen2.5:3b")])
    assert analysed_comment_ids(engine, model="smollm2:135m", prompt_name="comment-analysis", prompt_version=1) == {"c-1"}
    assert analysed_comment_ids(engine, model="smollm2:135m", prompt_name="comment-analysis", prompt_version=2) == {"c-3"}
    engine.dispose()
