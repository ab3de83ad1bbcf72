"""A team's chats are rows (platform, kind, target); teams.csv and users.csv carry DingTalk and Feishu ids."""

from __future__ import annotations

from sqlalchemy import select, text

from bot.core.db import Database, alembic_config
from bot.core.outbox import rows_for, team_targets
from bot.core.types import Outbound, ToTeam
from models import Identity, Team, TeamChat
from tests.conftest import wipe
from tests.test_transfer import NOW, export, load, problems

TEAMS = ("code,name,region,slack_channel,wecom_chat,wecom_webhook,dingtalk_chat,feishu_chat\n"
         "sh1,上海一组,sh,C0SH1,wrSH1,,cidSH1+abc==,oc_sh1\n"
         "gz1,广州一组,gz,,,https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=gz,,oc_gz1;oc_gz1_managers\n")


def _org(db: Database) -> None:
    load(db, "regions", "code,name,parent\neast,华东,\nsh,上海,east\ngz,广州,east\n")
    load(db, "teams", TEAMS)


def _chats(db: Database, code: str) -> list[tuple[str, str, str]]:
    with db.unit_of_work() as s:
        team = s.scalars(select(Team).where(Team.code == code)).one()
        return [(c.platform, c.kind, c.target) for c in team.chats]


def test_teams_csv_chat_columns_become_rows_and_export_back(db: Database) -> None:
    _org(db)
    assert _chats(db, "sh1") == [("slack", "channel", "C0SH1"), ("wecom", "chat", "wrSH1"),
                                 ("dingtalk", "chat", "cidSH1+abc=="), ("feishu", "chat", "oc_sh1")]
    assert _chats(db, "gz1") == [("wecom", "webhook", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=gz"),
                                 ("feishu", "chat", "oc_gz1"), ("feishu", "chat", "oc_gz1_managers")]
    out = export(db, "teams")
    assert out.splitlines()[0] == "code,name,region,timezone,locale," + TEAMS.splitlines()[0][len("code,name,region,"):]
    first = export(db, "teams")
    load(db, "teams", first)
    assert export(db, "teams") == first
    # A file without a chat column leaves that platform's chats alone; an empty cell removes them.
    load(db, "teams", "code,name,region,feishu_chat\nsh1,上海一组,sh,\n")
    assert ("feishu", "chat", "oc_sh1") not in _chats(db, "sh1")
    assert ("dingtalk", "chat", "cidSH1+abc==") in _chats(db, "sh1")
    load(db, "teams", "code,name,region\ngz1,广州一组,gz\n")
    assert len(_chats(db, "gz1")) == 3


def test_a_bad_chat_is_named_and_nothing_written(db: Database) -> None:
    _org(db)
    lines = problems(db, "teams", "code,name,region,wecom_webhook,dingtalk_chat\n"
                                  f"sh1,上海一组,sh,robot-key,{'x' * 513}\n", "teams.csv")
    assert lines[0].startswith("teams.csv:2: dingtalk_chat: 'xxxxxxxxxxxxxxxxxxxx'... is 513 characters")
    assert lines[1].startswith("teams.csv:2: wecom_webhook: 'robot-key' is not a URL")
    assert ("slack", "channel", "C0SH1") in _chats(db, "sh1")


def test_users_csv_dingtalk_and_feishu_ids_are_identities(db: Database) -> None:
    _org(db)
    load(db, "users", "code,name,role,team,dingtalk_user,feishu_user\n"
                      "zhao,赵磊,rep,sh1,manager4521,ou_zhao\nqian,钱敏,rep,sh1,,ou_qian\n")
    with db.unit_of_work() as s:
        ids = {(p, e) for p, e in s.execute(select(Identity.platform, Identity.external_id))}
    assert ids == {("dingtalk", "manager4521"), ("feishu", "ou_zhao"), ("feishu", "ou_qian")}
    lines = problems(db, "users", "code,name,role,feishu_user\nsun,孙婷,rep,ou_zhao\n", "users.csv")
    assert lines == ["users.csv:2: feishu_user: 'ou_zhao' already belongs to user 'zhao' "
                     "(each feishu id belongs to one person)"]
    first = export(db, "users")
    assert first.splitlines()[0].endswith(",dingtalk_user,feishu_user")
    assert "zhao,赵磊,rep,sh1,,,,,manager4521,ou_zhao" in first
    load(db, "users", first)
    assert export(db, "users") == first


def test_team_targets_read_every_enabled_platform_and_ignore_the_rest(db: Database) -> None:
    _org(db)
    with db.unit_of_work() as s:
        sh1 = s.scalars(select(Team.id).where(Team.code == "sh1")).one()
        gz1 = s.scalars(select(Team.id).where(Team.code == "gz1")).one()
        assert team_targets(s, sh1, ["slack", "wecom"]) == [("slack", "channel", "C0SH1"), ("wecom", "chat", "wrSH1")]
        assert team_targets(s, sh1, ["dingtalk"]) == [("dingtalk", "chat", "cidSH1+abc==")]
        assert team_targets(s, sh1, ["console"]) == [("console", "channel", "sh1")]
        assert team_targets(s, gz1, ["slack", "dingtalk"]) == []
        # Two Feishu chats of one team: one row each, with distinct keys that stay the same run after run.
        rows = rows_for(s, [Outbound(to=ToTeam(gz1), text="hi", key="evening:gz1")], base_key="x",
                        enabled=["feishu", "wecom"], now=NOW)
        again = rows_for(s, [Outbound(to=ToTeam(gz1), text="hi", key="evening:gz1")], base_key="x",
                         enabled=["feishu", "wecom"], now=NOW)
    assert [(r["platform"], r["target"]) for r in rows] == [
        ("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=gz"), ("feishu", "oc_gz1"),
        ("feishu", "oc_gz1_managers")]
    assert len({r["key"] for r in rows}) == 3 and [r["key"] for r in rows] == [r["key"] for r in again]
    assert rows[0]["key"] == "evening:gz1:wecom:webhook" and rows[1]["key"] == "evening:gz1:feishu:chat"


def test_migration_moves_the_columns_to_rows_and_back(migrated_db: Database) -> None:
    from alembic import command

    db = migrated_db
    wipe(db)
    from alembic.script import ScriptDirectory

    cfg = alembic_config(db.url, db.engine)
    before = ScriptDirectory.from_config(cfg).get_revision("0003_team_chats").down_revision
    assert isinstance(before, str)
    try:
        command.downgrade(cfg, before)
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO regions (id, code, name) VALUES (1, 'sh', '上海')"))
            conn.execute(text(
                "INSERT INTO teams (id, code, name, region_id, main_metric, slack_channel, wecom_chat, wecom_webhook) "
                "VALUES (1, 'sh1', 'a', 1, 'signed_amount', 'C1', 'chat1', ''), "
                "(2, 'gz1', 'b', 1, 'signed_amount', NULL, NULL, 'https://robot')"))
        command.upgrade(cfg, "head")
        with db.unit_of_work() as s:
            got = {(c.team_id, c.platform, c.kind, c.target) for c in s.scalars(select(TeamChat))}
        assert got == {(1, "slack", "channel", "C1"), (1, "wecom", "chat", "chat1"),
                       (2, "wecom", "webhook", "https://robot")}
        command.downgrade(cfg, before)
        with db.engine.connect() as conn:
            back = conn.execute(text("SELECT code, slack_channel, wecom_chat, wecom_webhook FROM teams "
                                     "ORDER BY id")).all()
        assert [tuple(r) for r in back] == [("sh1", "C1", "chat1", None), ("gz1", None, None, "https://robot")]
    finally:
        command.upgrade(cfg, "head")
        wipe(db)
    assert db.is_current()

