"""Rescoring by a change count instead of by times.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

* identities.changes: +1 in the transaction of every change to an identity's inputs (its contact, its
  member, a new event).
* scores.seen_changes: the count the score read. The score stage rescores an identity whose count passed
  it. Comparing times (updated_ms or an event's created_ms against scored_ms) missed a change stamped
  before a score started but committed after the score had read: the daemon's pull and score jobs run at
  the same time.

Existing identities start at 1 and existing scores at NULL (read as 0), so each lead is scored once
after the upgrade. With score_write_threshold, that rescore writes only what moved.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identities") as batch:
        batch.add_column(sa.Column("changes", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("scores") as batch:
        batch.add_column(sa.Column("seen_changes", sa.BigInteger()))
    op.execute("UPDATE identities SET changes = 1")


def downgrade() -> None:
    with op.batch_alter_table("scores") as batch:
        batch.drop_column("seen_changes")
    with op.batch_alter_table("identities") as batch:
        batch.drop_column("changes")
