"""Replicas: fenced outbox claims, live replicas, run history and the daily segment distribution.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

* leases.token: a new random token each time a lease is taken (not when renewed); outbox claims carry the
  claimant and that token, made in one UPDATE only while the claimant holds the push lease, so a pusher
  that lost its lease can claim nothing more.
* replicas: each daemon's heartbeat, so replicas can spread the workspaces between them and take over
  those of a replica that stopped beating.
* job_runs: one row per job run (when, how long, what it did), for the status page and the metrics.
* segment_days: the segment distribution at the end of each simulated or real day, for the trend chart.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("token", sa.String(32)))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(200)))
        batch.add_column(sa.Column("claim_token", sa.String(32)))
    op.create_table(
        "replicas",
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("seen_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("holder", name="pk_replicas"),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", ID, nullable=False, autoincrement=True),
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("finished_ms", sa.BigInteger(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("figures", sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")),
        sa.PrimaryKeyConstraint("id", name="pk_job_runs"),
    )
    op.create_index("ix_job_runs_job_started_ms", "job_runs", ["job", "started_ms"])
    op.create_table(
        "segment_days",
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("counts", sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_segment_days"),
    )


def downgrade() -> None:
    op.drop_table("segment_days")
    op.drop_index("ix_job_runs_job_started_ms", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_table("replicas")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claim_token")
        batch.drop_column("claimed_by")
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("token")
