"""inbound events keep their payload until handled (acknowledge first, handle after)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_events") as batch:
        batch.add_column(sa.Column("payload", sa.Text(), nullable=True))
        batch.add_column(sa.Column("processed_at", models.UTCDateTime(), nullable=True))
        batch.create_index(batch.f("ix_inbound_events_processed_at"), ["processed_at"], unique=False)
    # Every event stored before this revision was handled when it was stored.
    op.execute("UPDATE inbound_events SET processed_at = received_at")


def downgrade() -> None:
    with op.batch_alter_table("inbound_events") as batch:
        batch.drop_index(batch.f("ix_inbound_events_processed_at"))
        batch.drop_column("processed_at")
        batch.drop_column("payload")
