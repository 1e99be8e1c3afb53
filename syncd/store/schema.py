"""The database schema (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Every timestamp is epoch milliseconds in a BIGINT: no time-zone conversions differ between dialects.
JSON is JSONB on PostgreSQL (comparable, indexable) and JSON text on SQLite.
The Alembic migrations in migrations/versions/ must produce exactly this; a test compares them.
Note: `pushed_state.c["values"]`, not `.c.values` (that is a method of the column collection).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
ID = BigInteger().with_variant(Integer(), "sqlite")
JSONType = JSON().with_variant(JSONB(), "postgresql")
MS = BigInteger

OUTBOX_STATES = ("pending", "attempted", "done", "failed")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

identities = Table(
    "identities",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),  # normalized: trimmed, lowercased
    Column("hubspot_id", String(32), unique=True),
    Column("subscriber_hash", String(32), unique=True),
    Column("created_ms", MS, nullable=False),
    Column("updated_ms", MS, nullable=False),
    # +1 in the same transaction as every change of the identity's inputs (its contact, its member, a new
    # event): the score stage rescores an identity whose count passed what its score saw. A counter, not a
    # time: a change stamped before a score started but committed after it read is still seen as new
    Column("changes", BigInteger, nullable=False, default=0, server_default="0"),
)


def touch(now: int) -> dict[str, Any]:
    """The values of an UPDATE of `identities` whose inputs changed: scored again at the next score stage."""
    return {"updated_ms": now, "changes": identities.c.changes + 1}


hubspot_contacts = Table(
    "hubspot_contacts",
    metadata,
    Column("hubspot_id", String(32), primary_key=True),
    Column("email", String(320)),
    Column("properties", JSONType, nullable=False),
    Column("lastmodified_ms", MS),
    Column("merged_ids", JSONType),
    Column("archived", Boolean, nullable=False, default=False),
    Column("fetched_ms", MS, nullable=False),
    Column("field_ms", JSONType),  # property -> when HubSpot's value changed (two-way fields' "newest")
)

mailchimp_members = Table(
    "mailchimp_members",
    metadata,
    Column("subscriber_hash", String(32), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("merge_fields", JSONType),
    Column("tags", JSONType),
    Column("last_changed_ms", MS),
    Column("fetched_ms", MS, nullable=False),
)

owners = Table(
    "owners",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(320)),
    Column("first_name", String(200)),
    Column("last_name", String(200)),
    Column("archived", Boolean, nullable=False, default=False),
    Column("fetched_ms", MS, nullable=False),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("send_time_ms", MS),
    Column("subject", Text),
    Column("emails_sent", Integer),
    Column("fetched_ms", MS, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("occurred_ms", MS, nullable=False),
    Column("campaign_id", String(64)),
    Column("url", Text),
    Column("bounce_type", String(16)),
    Column("detail", JSONType),
    Column("created_ms", MS, nullable=False),
    UniqueConstraint("source", "event_id"),
    Index(None, "email", "occurred_ms"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("value", JSONType),
    Column("updated_ms", MS, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),  # idempotency key
    Column("kind", String(32), nullable=False),
    Column("target", String(200), nullable=False),
    Column("payload", JSONType, nullable=False),
    Column("state", String(16), nullable=False),  # one of OUTBOX_STATES
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("result", JSONType),
    Column("created_ms", MS, nullable=False),
    Column("updated_ms", MS, nullable=False),
    Column("claimed_by", String(200)),  # the pusher that claimed it last...
    Column("claim_token", String(32)),  # ...under this push lease token (fencing)
    Index(None, "state", "id"),
)

pushed_state = Table(
    "pushed_state",
    metadata,
    Column("target", String(200), primary_key=True),
    Column("values", JSONType, nullable=False),
    Column("updated_ms", MS, nullable=False),
)

scores = Table(
    "scores",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("score", Float, nullable=False),
    Column("fit_score", Float),
    Column("engagement_score", Float),
    Column("segment", String(32)),
    Column("segment_since_ms", MS),
    Column("was_engaged", Boolean, nullable=False, default=False),
    Column("lifecycle_target", String(64)),
    Column("cadence", String(32)),
    Column("ledger", JSONType),
    Column("scored_ms", MS, nullable=False),
    Column("last_task_ms", MS),
    Column("seen_changes", BigInteger),  # identities.changes as this score read it (NULL: scored before 0005)
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("record_key", String(320), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("payload", JSONType),
    Column("run_id", BigInteger),
    Column("created_ms", MS, nullable=False),
    UniqueConstraint("source", "record_key", "reason"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("started_ms", MS, nullable=False),
    Column("finished_ms", MS),
    Column("ok", Boolean),
    Column("summary", JSONType),
)

leases = Table(
    "leases",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_ms", MS, nullable=False),
    Column("token", String(32)),  # new each time the lease is taken, kept while it is renewed
)

replicas = Table(
    "replicas",
    metadata,
    Column("holder", String(200), primary_key=True),
    Column("started_ms", MS, nullable=False),
    Column("seen_ms", MS, nullable=False),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("job", String(200), nullable=False),
    Column("holder", String(200), nullable=False),
    Column("started_ms", MS, nullable=False),
    Column("finished_ms", MS, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text),
    Column("figures", JSONType),
    Index(None, "job", "started_ms"),
)

segment_days = Table(
    "segment_days",
    metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD on the services' clock
    Column("counts", JSONType, nullable=False),
    Column("updated_ms", MS, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("holder", String(200)),  # the replica that ran it last
    Column("last_started_ms", MS),
    Column("last_finished_ms", MS),
    Column("last_ok_ms", MS),
    Column("last_error", Text),
    Column("failures_in_a_row", Integer, nullable=False, server_default="0"),
    Column("runs", Integer, nullable=False, server_default="0"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("at_ms", MS, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("subject", String(320)),
    Column("detail", JSONType),
)
