"""Two-way fields: when each mapped HubSpot property last changed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

* hubspot_contacts.field_ms: property -> epoch ms of its value's last change in HubSpot (from the property
  history, or the contact's lastmodifieddate when the pull first saw the new value), for the `newest`
  conflict rule of fields mapped in both directions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hubspot_contacts") as batch:
        batch.add_column(sa.Column("field_ms", sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")))


def downgrade() -> None:
    with op.batch_alter_table("hubspot_contacts") as batch:
        batch.drop_column("field_ms")
