from __future__ import annotations

import io
import subprocess
import sys

from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.types import Inbound, InboundKind
from bot.platforms.console import ConsolePort
from bot.wiring import App
from tests.support.org import build_org


def make_app(settings: Settings, db: Database) -> tuple[App, io.StringIO]:
    out = io.StringIO()
    app = App(settings, db=db, ports={"console": ConsolePort(out)}, migrate=False)
    return app, out


def test_help_in_each_locale(settings: Settings, db: Database) -> None:
    build_org(db)
    app, out = make_app(settings, db)
    app.dispatch(Inbound("console", "e1", "zhang", InboundKind.COMMAND, text="/帮助"))
    app.dispatch(Inbound("console", "e2", "bob", InboundKind.COMMAND, text="/help"))
    text = out.getvalue()
    assert "使用说明" in text and "张伟" in text
    assert "salesbot help" in text and "Bob Smith" in text


def test_retry_is_answered_once(settings: Settings, db: Database) -> None:
    build_org(db)
    app, out = make_app(settings, db)
    for _ in range(3):
        app.dispatch(Inbound("console", "same", "zhang", InboundKind.COMMAND, text="/help"))
    assert out.getvalue().count("使用说明") == 1


def test_stranger_gets_not_in_org(settings: Settings, db: Database) -> None:
    build_org(db)
    app, out = make_app(settings, db)
    res = app.dispatch(Inbound("console", "e3", "nobody", InboundKind.MESSAGE, text="hi"))
    assert "还没有" in out.getvalue()
    assert res.route == "not_in_org"


def test_unknown_command_and_too_long(settings: Settings, db: Database) -> None:
    build_org(db)
    app, out = make_app(settings, db)
    app.dispatch(Inbound("console", "e4", "bob", InboundKind.COMMAND, text="/frobnicate"))
    app.dispatch(Inbound("console", "e5", "bob", InboundKind.MESSAGE, text="x" * 60_000))
    text = out.getvalue()
    assert "Unknown command" in text and "too long" in text


def test_cli_chat_unknown_user_exits_2(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run([sys.executable, "-m", "bot", "chat", "--user", "ghost"], input="/help\n\n",
                          capture_output=True, text=True, cwd=tmp_path,
                          env={"SALESBOT_DATABASE__URL": database_url, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert "ghost" in proc.stderr and "Traceback" not in proc.stderr


def test_help_names_the_typed_buttons_each_may_press(settings: Settings, db: Database) -> None:
    """DingTalk without a card template shows commands instead of buttons: /help says how to use them,
    and every one it names is a typed button the router knows."""
    import re

    from bot.core.router import BUTTON_COMMANDS

    build_org(db)
    app, out = make_app(settings, db)
    app.dispatch(Inbound("console", "h1", "zhang", InboundKind.COMMAND, text="/帮助"))
    rep = out.getvalue()
    out.seek(0)
    out.truncate()
    app.dispatch(Inbound("console", "h2", "mgr_east", InboundKind.COMMAND, text="/帮助"))
    manager = out.getvalue()
    out.seek(0)
    out.truncate()
    app.dispatch(Inbound("console", "h3", "bob", InboundKind.COMMAND, text="/help"))
    english = out.getvalue()
    assert "/完成 编号" in rep and "/推迟 编号" in rep and "/批准" not in rep
    assert all(f"/{word} 编号" in manager for word in ("完成", "推迟", "批准", "拒绝", "应用"))
    assert "/done ID" in english and "/approve" not in english
    words = {w for pair in BUTTON_COMMANDS.values() for w in pair}
    named = set(re.findall(r"/(\w+) (?:编号|ID)", manager + english))
    assert named and named <= words
