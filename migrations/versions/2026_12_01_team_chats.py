"""a team's chats become rows (team_chats) instead of one column per platform on teams

Revision ID: 0003_team_chats
Revises: 0003_console
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_team_chats"
down_revision = "0003_console"
branch_labels = None
depends_on = None

# The columns this revision moves: column -> (platform, kind, length).
_COLUMNS = {
    "slack_channel": ("slack", "channel", 64),
    "wecom_chat": ("wecom", "chat", 128),
    "wecom_webhook": ("wecom", "webhook", 512),
}


def upgrade() -> None:
    op.create_table(
        "team_chats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_team_chats_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_chats")),
        sa.UniqueConstraint("team_id", "platform", "kind", "target",
                            name=op.f("uq_team_chats_team_id_platform_kind_target")),
    )
    with op.batch_alter_table("team_chats") as batch:
        batch.create_index(batch.f("ix_team_chats_team_id"), ["team_id"], unique=False)
    for column, (platform, kind, _) in _COLUMNS.items():
        op.execute(
            f"INSERT INTO team_chats (team_id, platform, kind, target) "  # noqa: S608 - constants only
            f"SELECT id, '{platform}', '{kind}', {column} FROM teams "
            f"WHERE {column} IS NOT NULL AND {column} <> ''"
        )
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35 has it): a batch copy of `teams` would drop the
    # table that people and team_chats reference, which SQLite's enforced foreign keys refuse.
    for column in _COLUMNS:
        op.drop_column("teams", column)


def downgrade() -> None:
    for column, (_, _, length) in _COLUMNS.items():
        op.add_column("teams", sa.Column(column, sa.String(length=length), nullable=True))
    for column, (platform, kind, _) in _COLUMNS.items():
        # The first chat of each platform and kind goes back to its column (the columns held one).
        op.execute(
            f"UPDATE teams SET {column} = (SELECT c.target FROM team_chats c "  # noqa: S608 - constants only
            f"WHERE c.team_id = teams.id AND c.platform = '{platform}' AND c.kind = '{kind}' "
            f"ORDER BY c.id LIMIT 1)"
        )
    with op.batch_alter_table("team_chats") as batch:
        batch.drop_index(batch.f("ix_team_chats_team_id"))
    op.drop_table("team_chats")
