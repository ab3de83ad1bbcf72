"""the audit log: who changed what and when, written in the same transaction as the change

Revision ID: 0004_audit_log
Revises: 0003_team_chats
Create Date: 2026-12-01 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models

revision = "0004_audit_log"
down_revision = "0003_team_chats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", models.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["people.id"], name=op.f("fk_audit_log_actor_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.create_index(batch.f("ix_audit_log_at"), ["at"], unique=False)
        batch.create_index(batch.f("ix_audit_log_actor_id"), ["actor_id"], unique=False)
        batch.create_index(batch.f("ix_audit_log_action"), ["action"], unique=False)


def downgrade() -> None:
    # Dropping the table drops its indexes (MariaDB refuses to drop the one its foreign key uses first).
    op.drop_table("audit_log")
