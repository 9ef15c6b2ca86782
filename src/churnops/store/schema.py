"""The store's tables (SQLAlchemy Core). Schema changes go through the Alembic migrations in `migrations/`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

VERSION_TABLE = "churnops_store_version"  # Alembic's version table: the store can share a database with MLflow


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out on every backend (SQLite keeps no offset; naive input is taken as UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

METADATA = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

PREDICTIONS = sa.Table(
    "predictions",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("model_name", sa.String(), nullable=False),
    sa.Column("model_version", sa.String(), nullable=False, index=True),
    sa.Column("features", JSON_DOCUMENT, nullable=False),
    sa.Column("probability", sa.Float(), nullable=False),
    sa.Column("label", sa.Boolean(), nullable=False),
    sa.Column("threshold", sa.Float(), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("endpoint", sa.String(), nullable=False),
    sa.Column("request_id", sa.String(), nullable=True),
    # Set once the row is in Elasticsearch; rows replayed late from a spool still have it unset.
    sa.Column("exported_at", UtcDateTime(), nullable=True, index=True),
)

# No foreign key to predictions: feedback may arrive before its prediction is written.
FEEDBACK = sa.Table(
    "feedback",
    METADATA,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("feedback_id", sa.String(32), nullable=False, unique=True),
    sa.Column("prediction_id", sa.String(32), nullable=False, index=True),
    sa.Column("churned", sa.Boolean(), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("request_id", sa.String(), nullable=True),
    sa.Column("exported_at", UtcDateTime(), nullable=True, index=True),
)

REQUESTS = sa.Table(
    "requests",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("at", UtcDateTime(), nullable=False, index=True),
    sa.Column("endpoint", sa.String(), nullable=False),
    sa.Column("method", sa.String(), nullable=False),
    sa.Column("status", sa.Integer(), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("request_id", sa.String(), nullable=True),
)

# Written by monitoring runs, not by the API; exported to Elasticsearch like the rest.
ALERTS = sa.Table(
    "alerts",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("raised_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("rule", sa.String(), nullable=False),
    sa.Column("metric", sa.String(), nullable=False),
    sa.Column("value", sa.Float(), nullable=False),
    sa.Column("threshold", sa.Float(), nullable=False),
    sa.Column("window_start", UtcDateTime(), nullable=False),
    sa.Column("window_end", UtcDateTime(), nullable=False),
    sa.Column("model_version", sa.String(), nullable=True),
    sa.Column("monitoring_run_id", sa.String(), nullable=True),
    sa.Column("message", sa.String(), nullable=False),
    sa.Column("exported_at", UtcDateTime(), nullable=True, index=True),
)

# One row per monitoring run: the latest is what the API exports as Prometheus gauges.
MONITORING_RUNS = sa.Table(
    "monitoring_runs",
    METADATA,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("window_start", UtcDateTime(), nullable=False),
    sa.Column("window_end", UtcDateTime(), nullable=False, index=True),
    sa.Column("model_version", sa.String(), nullable=True),
    sa.Column("predictions", sa.Integer(), nullable=False),
    sa.Column("share_drifted_features", sa.Float(), nullable=True),
    sa.Column("prediction_drift_score", sa.Float(), nullable=True),
    sa.Column("roc_auc", sa.Float(), nullable=True),
    sa.Column("alerts", sa.Integer(), nullable=False),
)

# One row per analysed customer comment (churnops comments analyze, POST /comments/analyze), failures included.
COMMENT_ANALYSES = sa.Table(
    "comment_analyses",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("analyzed_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("comment_id", sa.String(200), nullable=True, index=True),
    sa.Column("customer_id", sa.String(200), nullable=True, index=True),
    sa.Column("comment_date", sa.String(10), nullable=True),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("ok", sa.Boolean(), nullable=False),
    sa.Column("sentiment", sa.String(16), nullable=True),
    sa.Column("churn_risk", sa.String(16), nullable=True),
    sa.Column("reasons", JSON_DOCUMENT, nullable=True),
    sa.Column("summary", sa.Text(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("model", sa.String(), nullable=False),
    sa.Column("prompt_name", sa.String(), nullable=False),
    sa.Column("prompt_version", sa.Integer(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("prompt_tokens", sa.Integer(), nullable=True),
    sa.Column("completion_tokens", sa.Integer(), nullable=True),
    sa.Column("trace_id", sa.String(64), nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("source", sa.String(), nullable=False),
)
