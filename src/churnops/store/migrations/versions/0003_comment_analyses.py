"""Customer-comment analyses.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 00:00:00

`comment_analyses` holds one row per analysed comment, failures included (`ok` false, `error` set), with
the model and the prompt version that produced it, its token counts, latency and MLflow trace id, and
the batch run (`run_id`) or `api` source it came from.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "comment_analyses",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("analyzed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment_id", sa.String(200), nullable=True),
        sa.Column("customer_id", sa.String(200), nullable=True),
        sa.Column("comment_date", sa.String(10), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("sentiment", sa.String(16), nullable=True),
        sa.Column("churn_risk", sa.String(16), nullable=True),
        sa.Column("reasons", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
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
        sa.PrimaryKeyConstraint("id", name="pk_comment_analyses"),
    )
    for column in ("analyzed_at", "comment_id", "customer_id"):
        op.create_index(f"ix_comment_analyses_{column}", "comment_analyses", [column])


def downgrade() -> None:
    op.drop_table("comment_analyses")
