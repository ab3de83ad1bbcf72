"""/console/audit: chat and console changes alike, with who and when; filters, export, before and after."""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.testclient import TestClient

from bot.core.types import Inbound, InboundKind
from bot.wiring import App
from tests.console.conftest import csrf_of

NUDGE = "⏰ {{ name }}，请跟进：\n{% for f in items %}\n- {{ f.customer }}\n{% endfor %}"


def test_chat_and_console_changes_are_listed_with_who_and_when(sign_in: Callable[[str], TestClient], app: App) -> None:
    admin = sign_in("admin")
    # a change from chat (the terminal chat, `salesbot chat`) and one from the console
    app.dispatch(Inbound("console", "a1", "admin", InboundKind.COMMAND, text=f"/template save nudge zh-CN\n{NUDGE}"))
    token = csrf_of(admin.get("/console/fields").text)
    assert admin.post("/console/fields", data={"csrf_token": token, "action": "alias", "key": "visits",
                                               "label": "见客户"}).status_code == 303
    page = admin.get("/console/audit")
    assert page.status_code == 200
    for words in ("保存模板", "nudge zh-CN", "命令行聊天", "日报字段加别名", "visits", "看板", "登录看板", "管理员 (admin)",
                  "2026-11-23 10:00"):
        assert words in page.text, words
    only_chat = admin.get("/console/audit?source=terminal")
    assert "nudge zh-CN" in only_chat.text and "日报字段加别名" not in only_chat.text
    only_fields = admin.get("/console/audit?what=field&who=admin")
    assert "日报字段加别名" in only_fields.text and "保存模板" not in only_fields.text
    assert admin.get("/console/audit?since=2026-11-24").text.count("<tr>") <= 1  # header only: nothing that day
    csv = admin.get("/console/audit?format=csv")
    assert csv.status_code == 200 and "nudge zh-CN" in csv.text and "请跟进" in csv.text  # the text itself
    entry_links = re.findall(r'href="(/console/audit/entry\?id=\d+)"', page.text)
    assert len(entry_links) == 3
    details = [admin.get(link) for link in entry_links]
    template = next(d for d in details if "nudge zh-CN" in d.text)
    assert 'class="diff"' in template.text and "f.customer" in template.text


def test_bad_filters_and_who_may_see(sign_in: Callable[[str], TestClient]) -> None:
    admin = sign_in("admin")
    assert admin.get("/console/audit?what=nonsense").status_code == 400
    assert admin.get("/console/audit?since=2026-12-01&until=2026-11-01").status_code == 400
    assert admin.get("/console/audit/entry?id=999999").status_code == 404
    assert sign_in("mgr_east").get("/console/audit").status_code == 404
