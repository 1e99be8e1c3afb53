"""Job status shared by replicas: when each job last ran, succeeded or failed, and by whom.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

`/readyz` asks whether the work gets done by anyone (a standby replica whose leases are held by a healthy
peer is ready; a replica whose jobs nobody has run for several periods is not), which per-process
memory cannot answer.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200)),
        sa.Column("last_started_ms", sa.BigInteger()),
        sa.Column("last_finished_ms", sa.BigInteger()),
        sa.Column("last_ok_ms", sa.BigInteger()),
        sa.Column("last_error", sa.Text()),
        sa.Column("failures_in_a_row", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("runs", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("job", name="pk_jobs"),
    )


def downgrade() -> None:
    op.drop_table("jobs")
