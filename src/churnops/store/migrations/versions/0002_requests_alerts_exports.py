"""Request log, alerts, monitoring runs, and Elasticsearch export marks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:00:00

`requests` holds every answered API request (probes excluded) so a monitoring run can report
latency percentiles and error rates for any past window. `alerts` holds the threshold breaches
monitoring runs found, `monitoring_runs` each run's headline figures (the API exports the
latest as Prometheus gauges). `exported_at` marks rows already sent to Elasticsearch: a row replayed
late from a spool has it unset and is still exported.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("endpoint", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("request_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_requests"),
    )
    op.create_index("ix_requests_at", "requests", ["at"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(), nullable=True),
        sa.Column("monitoring_run_id", sa.String(), nullable=True),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_raised_at", "alerts", ["raised_at"])
    op.create_index("ix_alerts_exported_at", "alerts", ["exported_at"])
    op.create_table(
        "monitoring_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(), nullable=True),
        sa.Column("predictions", sa.Integer(), nullable=False),
        sa.Column("share_drifted_features", sa.Float(), nullable=True),
        sa.Column("prediction_drift_score", sa.Float(), nullable=True),
        sa.Column("roc_auc", sa.Float(), nullable=True),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_monitoring_runs"),
    )
    op.create_index("ix_monitoring_runs_window_end", "monitoring_runs", ["window_end"])
    for table in ("predictions", "feedback"):
        op.add_column(table, sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True))
        op.create_index(f"ix_{table}_exported_at", table, ["exported_at"])


def downgrade() -> None:
    for table in ("predictions", "feedback"):
        op.drop_index(f"ix_{table}_exported_at", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("exported_at")
    op.drop_index("ix_monitoring_runs_window_end", table_name="monitoring_runs")
    op.drop_table("monitoring_runs")
    op.drop_index("ix_alerts_exported_at", table_name="alerts")
    op.drop_index("ix_alerts_raised_at", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_requests_at", table_name="requests")
    op.drop_table("requests")
