"""Initial schema.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Written out rather than taken from schema.py, so that later changes to schema.py never rewrite history;
tests/unit/test_store.py checks that the migrated database matches schema.metadata.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
EMAIL = sa.String(320)


def _ms(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", ID, nullable=False, autoincrement=True),
        sa.Column("email", EMAIL, nullable=False),
        sa.Column("hubspot_id", sa.String(32)),
        sa.Column("subscriber_hash", sa.String(32)),
        _ms("created_ms"),
        _ms("updated_ms"),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
        sa.UniqueConstraint("email", name="uq_identities_email"),
        sa.UniqueConstraint("hubspot_id", name="uq_identities_hubspot_id"),
        sa.UniqueConstraint("subscriber_hash", name="uq_identities_subscriber_hash"),
    )
    op.create_table(
        "hubspot_contacts",
        sa.Column("hubspot_id", sa.String(32), nullable=False),
        sa.Column("email", EMAIL),
        sa.Column("properties", JSON, nullable=False),
        _ms("lastmodified_ms", True),
        sa.Column("merged_ids", JSON),
        sa.Column("archived", sa.Boolean(), nullable=False),
        _ms("fetched_ms"),
        sa.PrimaryKeyConstraint("hubspot_id", name="pk_hubspot_contacts"),
    )
    op.create_table(
        "mailchimp_members",
        sa.Column("subscriber_hash", sa.String(32), nullable=False),
        sa.Column("email", EMAIL, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("merge_fields", JSON),
        sa.Column("tags", JSON),
        _ms("last_changed_ms", True),
        _ms("fetched_ms"),
        sa.PrimaryKeyConstraint("subscriber_hash", name="pk_mailchimp_members"),
    )
    op.create_table(
        "owners",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("email", EMAIL),
        sa.Column("first_name", sa.String(200)),
        sa.Column("last_name", sa.String(200)),
        sa.Column("archived", sa.Boolean(), nullable=False),
        _ms("fetched_ms"),
        sa.PrimaryKeyConstraint("id", name="pk_owners"),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(64), nullable=False),
        _ms("send_time_ms", True),
        sa.Column("subject", sa.Text()),
        sa.Column("emails_sent", sa.Integer()),
        _ms("fetched_ms"),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
    )
    op.create_table(
        "events",
        sa.Column("id", ID, nullable=False, autoincrement=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("email", EMAIL, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        _ms("occurred_ms"),
        sa.Column("campaign_id", sa.String(64)),
        sa.Column("url", sa.Text()),
        sa.Column("bounce_type", sa.String(16)),
        sa.Column("detail", JSON),
        _ms("created_ms"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("source", "event_id", name="uq_events_source_event_id"),
    )
    op.create_index("ix_events_email_occurred_ms", "events", ["email", "occurred_ms"])
    op.create_table(
        "cursors",
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("value", JSON),
        _ms("updated_ms"),
        sa.PrimaryKeyConstraint("stream", name="pk_cursors"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", ID, nullable=False, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("result", JSON),
        _ms("created_ms"),
        _ms("updated_ms"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_state_id", "outbox", ["state", "id"])
    op.create_table(
        "pushed_state",
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("values", JSON, nullable=False),
        _ms("updated_ms"),
        sa.PrimaryKeyConstraint("target", name="pk_pushed_state"),
    )
    op.create_table(
        "scores",
        sa.Column("email", EMAIL, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fit_score", sa.Float()),
        sa.Column("engagement_score", sa.Float()),
        sa.Column("segment", sa.String(32)),
        _ms("segment_since_ms", True),
        sa.Column("was_engaged", sa.Boolean(), nullable=False),
        sa.Column("lifecycle_target", sa.String(64)),
        sa.Column("cadence", sa.String(32)),
        sa.Column("ledger", JSON),
        _ms("scored_ms"),
        _ms("last_task_ms", True),
        sa.PrimaryKeyConstraint("email", name="pk_scores"),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", ID, nullable=False, autoincrement=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("record_key", EMAIL, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("payload", JSON),
        sa.Column("run_id", sa.BigInteger()),
        _ms("created_ms"),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
        sa.UniqueConstraint("source", "record_key", "reason", name="uq_quarantine_source_record_key_reason"),
    )
    op.create_table(
        "runs",
        sa.Column("id", ID, nullable=False, autoincrement=True),
        _ms("started_ms"),
        _ms("finished_ms", True),
        sa.Column("ok", sa.Boolean()),
        sa.Column("summary", JSON),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_table(
        "leases",
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        _ms("expires_ms"),
        sa.PrimaryKeyConstraint("job", name="pk_leases"),
    )
    op.create_table(
        "audit",
        sa.Column("id", ID, nullable=False, autoincrement=True),
        _ms("at_ms"),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", EMAIL),
        sa.Column("detail", JSON),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )


def downgrade() -> None:
    for name in (
        "audit",
        "leases",
        "runs",
        "quarantine",
        "scores",
        "pushed_state",
        "outbox",
        "cursors",
        "events",
        "campaigns",
        "owners",
        "mailchimp_members",
        "hubspot_contacts",
        "identities",
    ):
        op.drop_table(name)
