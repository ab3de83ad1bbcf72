"""Admins edit templates through the bot: console, WeCom, Slack forms; reps cannot."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.types import Inbound, InboundKind
from bot.platforms.console import ConsolePort
from bot.wiring import App
from models import TemplateVersion
from tests.support.org import build_org

CORPUS = Path(__file__).resolve().parent.parent / "data" / "ssti_payloads.txt"
CONTRACT_NAMES = ("help", "report_form", "report_reply", "report_error", "key_actions_reply", "morning_prompt",
                  "report_reminder", "evening_leaderboard", "nudge", "escalation", "stalled_risk",
                  "weekly_review", "visit_reply", "collab_request", "collab_decision", "collab_needed",
                  "customer_card", "followups", "goal_show", "goal_split", "leaderboard", "not_in_org",
                  "forbidden")


class Chat:
    """Drive the bot as one person and read what came back."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.out = io.StringIO()
        self.app = App(settings, db=db, ports={"console": ConsolePort(self.out)}, migrate=False)
        self.n = 0

    def say(self, user: str, text: str, *, platform: str = "console") -> str:
        self.n += 1
        start = self.out.tell()
        kind = InboundKind.COMMAND if text.lstrip().startswith("/") else InboundKind.MESSAGE
        self.app.dispatch(Inbound(platform, f"t{self.n}", user, kind, text=text), deliver=platform == "console")
        return self.out.getvalue()[start:]

    def enqueued(self, db: Database) -> list[str]:
        from models import OutboxMessage

        with db.unit_of_work() as s:
            return [m.payload.get("text", "") for m in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def versions(db: Database, name: str) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(TemplateVersion).where(TemplateVersion.name == name)) or 0


@pytest.fixture()
def chat(settings: Settings, db: Database) -> Chat:
    build_org(db)
    return Chat(settings, db)


def test_admin_saves_help_on_console_and_next_render_uses_it(chat: Chat, db: Database) -> None:
    reply = chat.say("admin", "/template save help\n**新的说明** {{ name }}\n第二行")
    assert "已保存" in reply and "zh-CN" in reply
    assert "**新的说明** 张伟" in chat.say("zhang", "/help")
    # English is untouched
    assert "salesbot help" in chat.say("bob", "/help")
    assert versions(db, "help") == 1


def test_list_shows_every_template_and_the_contract_names(chat: Chat) -> None:
    from services.templates import template_names

    text = chat.say("admin", "/template list")
    for name in template_names():
        assert f"`{name}`" in text
    shipped = set(template_names())
    for name in CONTRACT_NAMES:
        if name in shipped:
            assert f"`{name}`" in text


def test_show_prints_text_and_variables(chat: Chat) -> None:
    text = chat.say("admin", "/模板 show help en")
    assert "salesbot help" in text and "`is_admin`" in text and "`name`" in text and "默认版本" in text


def test_edit_on_console_explains_how_to_save(chat: Chat) -> None:
    text = chat.say("admin", "/template edit help")
    assert "/模板 save help zh-CN" in text and "使用说明" in text


def test_bad_edit_is_refused_with_line_and_old_version_stays(chat: Chat, db: Database) -> None:
    reply = chat.say("admin", "/template save help en\nHello {{ name }}\n{{ nmae }}")
    assert "未知变量 `nmae`" in reply and "第 2 行" in reply  # line 2 of the template text
    assert versions(db, "help") == 0
    assert "salesbot help" in chat.say("bob", "/help")


def test_syntax_error_is_refused(chat: Chat, db: Database) -> None:
    reply = chat.say("admin", "/template save help all\nHi {{ name }\n")
    assert "语法错误" in reply and versions(db, "help") == 0


def test_wecom_save_works(chat: Chat, db: Database) -> None:
    chat.say("admin", "/模板 保存 help\n企业微信版 {{ name }}", platform="wecom")
    assert versions(db, "help") == 1
    assert "企业微信版 张伟" in chat.say("zhang", "/help")


def test_rep_can_do_nothing(chat: Chat, db: Database) -> None:
    for cmd in ("/template list", "/template show help", "/template edit help", "/template save help\nX {{ name }}",
                "/template history help", "/template rollback help 0", "/模板 preview help"):
        reply = chat.say("zhang", cmd)
        assert "没有权限" in reply, cmd
        assert "`help`" not in reply
    assert versions(db, "help") == 0
    assert "使用说明" in chat.say("zhang", "/help")


def test_history_and_rollback(chat: Chat, db: Database) -> None:
    chat.say("admin", "/template save help\n第一版 {{ name }}")
    chat.say("admin", "/template save help\n第二版 {{ name }}")
    assert "第二版 张伟" in chat.say("zhang", "/help")
    hist = chat.say("admin", "/template history help")
    assert "第 1 版" in hist and "第 2 版" in hist and "管理员" in hist
    back = chat.say("admin", "/template rollback help 1")
    assert "已恢复为第 1 版" in back and "第 3 版" in back
    assert "第一版 张伟" in chat.say("zhang", "/help")
    chat.say("admin", "/template rollback help 0")
    assert "使用说明" in chat.say("zhang", "/help")
    missing = chat.say("admin", "/template rollback help 9")
    assert "没有版本" in missing
    assert versions(db, "help") == 4


def test_preview_renders_sample_data(chat: Chat) -> None:
    chat.say("admin", "/template save help en\nPreview me, {{ name }}!")
    text = chat.say("admin", "/template preview help en")
    assert "Preview me, 张伟!" in text


def test_usage_errors_are_specific(chat: Chat) -> None:
    assert "evening_board" in chat.say("admin", "/template show evening_board")
    assert "fr" in chat.say("admin", "/template show help fr")
    assert "不认识的子命令 `frob`" in chat.say("admin", "/template frob")
    assert "缺少新内容" in chat.say("admin", "/template save help")
    assert "不是版本号" in chat.say("admin", "/template rollback help abc")


def slack_form(chat: Chat, user: str, body: str, meta: str = "help|zh-CN") -> dict[str, str] | None:
    chat.n += 1
    res = chat.app.dispatch(Inbound("slack", f"f{chat.n}", user, InboundKind.FORM, form_id="template_edit",
                                    form_values={"body": body}, form_meta=meta), deliver=False)
    return res.form_errors


def test_slack_edit_opens_a_modal_with_the_current_text(chat: Chat, db: Database) -> None:
    from models import OutboxMessage

    chat.app.dispatch(Inbound("slack", "s1", "U_ADMIN", InboundKind.COMMAND, text="/template edit help en",
                              trigger_id="trig-1"), deliver=False)
    with db.unit_of_work() as s:
        msg = s.scalars(select(OutboxMessage)).one()
        form = msg.payload["form"]
        assert form["form_id"] == "template_edit" and form["meta"] == "help|en"
        assert form["fields"][0]["multiline"] and "salesbot help" in form["fields"][0]["initial"]


def test_slack_form_saves_and_bad_one_gets_form_errors(chat: Chat, db: Database) -> None:
    assert slack_form(chat, "U_ADMIN", "Slack 版 {{ name }}") is None
    assert versions(db, "help") == 1
    assert "Slack 版 张伟" in chat.say("zhang", "/help")
    errors = slack_form(chat, "U_ADMIN", "ok\n\n{{ name.__class__ }}")
    assert errors is not None and "__class__" in errors["body"] and "第 3 行" in errors["body"]
    errors = slack_form(chat, "U_ADMIN", "ok {{ nope }}")
    assert errors is not None and "nope" in errors["body"]
    assert versions(db, "help") == 1
    assert "Slack 版 张伟" in chat.say("zhang", "/help")


def test_slack_form_by_a_rep_is_refused(chat: Chat, db: Database) -> None:
    slack_form(chat, "U_ZHANG", "hacked {{ name }}")
    assert versions(db, "help") == 0


def _sample_payloads() -> list[str]:
    lines = [ln.replace("\\n", "\n") for ln in CORPUS.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    return lines[::4]


@pytest.mark.parametrize("payload", _sample_payloads())
def test_ssti_payload_refused_through_the_dialog(chat: Chat, db: Database, payload: str) -> None:
    chat.say("admin", "/template save help\n好的版本 {{ name }}")
    reply = chat.say("admin", "/template save help\n" + payload)
    assert "未保存" in reply and "Traceback" not in reply
    assert versions(db, "help") == 1
    assert "好的版本 张伟" in chat.say("zhang", "/help")
