"""web console: sign-in links, sessions, failed redemptions

Revision ID: 0003_console
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models

revision = "0003_console"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", models.UTCDateTime(), nullable=False),
        sa.Column("used_at", models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_console_links_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_links_token_hash")),
    )
    op.create_index(op.f("ix_console_links_person_id"), "console_links", ["person_id"], unique=False)
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_console_sessions_person_id_people")),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index(op.f("ix_console_sessions_person_id"), "console_sessions", ["person_id"], unique=False)
    op.create_index(op.f("ix_console_sessions_expires_at"), "console_sessions", ["expires_at"], unique=False)
    op.create_table(
        "console_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_failures")),
    )
    op.create_index(op.f("ix_console_failures_address"), "console_failures", ["address"], unique=False)
    op.create_index(op.f("ix_console_failures_created_at"), "console_failures", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("console_failures")
    op.drop_table("console_sessions")
    op.drop_table("console_links")
