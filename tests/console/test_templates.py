"""The template editor: preview on real data, save with the chat's checks, refusal with the line, history,
diff, rollback and reset; and the next evening post uses what was saved."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from starlette.testclient import TestClient

from bot.console.pages.templates import variable_docs
from bot.core.db import Database
from bot.core.types import Inbound, InboundKind
from bot.wiring import App
from jobs.runner import run_job
from models import OutboxMessage, TemplateVersion
from tests.console.conftest import csrf_of
from tests.support.fake_slack import running_fake_slack
from tests.support.slack_app import slack_app, slack_settings

EDIT = "/console/templates/evening_leaderboard?locale=zh-CN"
NEW_TEXT = "🏆 {{ team }} 晚报速递 {{ day|day }}\n{% for r in ranking %}\n{{ r.rank }}. {{ r.name }} {{ r.value|money(locale) }}\n{% endfor %}\n合计 {{ total|money(locale) }}"


def _report(app: App, code: str, text: str) -> None:
    app.dispatch(Inbound("console", f"r-{code}-{len(text)}", code, InboundKind.MESSAGE, text=text))


def _editor(client: TestClient, path: str = EDIT) -> tuple[str, str]:
    resp = client.get(path)
    assert resp.status_code == 200, resp.text
    return resp.text, csrf_of(resp.text)


def test_list_and_editor_show_the_template_and_its_words(sign_in: Callable[[str], TestClient]) -> None:
    admin = sign_in("admin")
    page = admin.get("/console/templates")
    assert page.status_code == 200 and "evening_leaderboard" in page.text and "晚间排行榜" in page.text
    html, _ = _editor(admin)
    assert "<textarea" in html and "{{ team }}" in html.replace("&#34;", '"')
    assert 'data-insert="{{ ranking' not in html  # lists insert a whole loop
    assert "正在使用：系统自带的默认文字" in html


def test_preview_uses_the_teams_real_numbers(sign_in: Callable[[str], TestClient], app: App) -> None:
    _report(app, "zhang", "日报\n签约：12.5万")
    _report(app, "li", "日报\n签约：3.6万")
    admin = sign_in("admin")
    _, token = _editor(admin)
    resp = admin.post("/console/templates/evening_leaderboard/preview",
                      data={"csrf_token": token, "locale": "zh-CN", "text": NEW_TEXT, "team": "sh1",
                            "day": "2026-11-23"})
    assert resp.status_code == 200, resp.text
    assert "上海一组 晚报速递" in resp.text and "12.5万" in resp.text and "3.6万" in resp.text
    assert "合计 16.1万" in resp.text
    for platform in ('data-platform="console"', 'data-platform="slack"', 'data-platform="wecom"',
                     'data-platform="feishu"'):
        assert platform in resp.text
    assert "chat.postMessage" in resp.text and "appchat/send" in resp.text
    assert "im/v1/messages?receive_id_type=chat_id" in resp.text


def test_a_bad_edit_is_refused_with_its_line_and_the_old_text_stays(sign_in: Callable[[str], TestClient],
                                                                     db: Database) -> None:
    admin = sign_in("admin")
    _, token = _editor(admin)
    bad = "第一行\n第二行\n{{ nmae }} 你好\n第四行"
    resp = admin.post("/console/templates/evening_leaderboard",
                      data={"csrf_token": token, "locale": "zh-CN", "text": bad, "team": "sh1"})
    assert resp.status_code == 200
    assert "没有保存" in resp.text and "第 3 行" in resp.text and "nmae" in resp.text
    assert 'class="bad" aria-current="true"><code>{{ nmae }} 你好' in resp.text.replace("&#34;", '"')
    with db.unit_of_work() as s:
        assert s.scalar(select(TemplateVersion.id)) is None
    preview = admin.post("/console/templates/evening_leaderboard/preview",
                         data={"csrf_token": token, "locale": "zh-CN", "text": "{% for r in ranking %}x"})
    assert "这段文字还不能保存" in preview.text and "第 1 行" in preview.text


def test_save_diff_rollback_and_reset(sign_in: Callable[[str], TestClient], db: Database) -> None:
    admin = sign_in("admin")
    _, token = _editor(admin)
    resp = admin.post("/console/templates/evening_leaderboard",
                      data={"csrf_token": token, "locale": "zh-CN", "text": NEW_TEXT, "team": "sh1"})
    assert resp.status_code == 303 and "done=saved" in resp.headers["location"]
    html = admin.get(resp.headers["location"]).text
    assert "已保存为第 1 版" in html and "正在使用：第 1 版（管理员" in html
    diff = admin.get("/console/templates/evening_leaderboard/diff?locale=zh-CN&from=0")
    assert diff.status_code == 200 and 'class="diff"' in diff.text and "速递" in diff.text
    resp = admin.post("/console/templates/evening_leaderboard/rollback",
                      data={"csrf_token": token, "locale": "zh-CN", "version": "0"})
    assert resp.status_code == 303
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(TemplateVersion).order_by(TemplateVersion.version)))
        assert [r.version for r in rows] == [1, 2] and "晚报速递" not in rows[1].body
    resp = admin.post("/console/templates/evening_leaderboard/rollback",
                      data={"csrf_token": token, "locale": "zh-CN", "version": "1"})
    assert resp.status_code == 303
    with db.unit_of_work() as s:
        newest = s.scalars(select(TemplateVersion).order_by(TemplateVersion.version.desc())).first()
        assert newest is not None and newest.version == 3 and newest.body == NEW_TEXT


def test_rep_and_manager_cannot_open_templates(sign_in: Callable[[str], TestClient]) -> None:
    for code in ("zhang", "mgr_east"):
        client = sign_in(code)
        assert client.get("/console/templates").status_code == 404
        assert client.get(EDIT).status_code == 404


def test_the_next_evening_post_uses_the_saved_text_and_never_a_refused_one(
        sign_in: Callable[[str], TestClient], app: App, db: Database, database_url: str) -> None:
    _report(app, "zhang", "日报\n签约：12.5万")
    admin = sign_in("admin")
    _, token = _editor(admin)
    assert admin.post("/console/templates/evening_leaderboard",
                      data={"csrf_token": token, "locale": "zh-CN", "text": NEW_TEXT}).status_code == 303
    refused = admin.post("/console/templates/evening_leaderboard",
                         data={"csrf_token": token, "locale": "zh-CN", "text": NEW_TEXT + "\n{% if missing %}漏交"})
    assert refused.status_code == 200 and "没有保存" in refused.text
    # the evening job, delivered to Slack (a fake Slack Web API): 上海一组's channel gets the saved wording
    with running_fake_slack() as fake:
        slack = slack_app(slack_settings(database_url, fake), db, clock=app.clock)
        try:
            summary = run_job(db=db, settings=slack.settings, clock=slack.clock, name="evening",
                              team_codes=["sh1"], at=datetime(2026, 11, 23, 10, 30, tzinfo=UTC), outbox=slack.outbox)
        finally:
            slack.handling.close()
        assert summary.ran and summary.sent >= 1
        posts = [c.args for c in fake.ok_calls("chat.postMessage") if c.args["channel"] == "C_SH1"]
    assert len(posts) == 1
    text = posts[0]["text"] + json.dumps(posts[0].get("blocks"), ensure_ascii=False)
    assert "上海一组 晚报速递" in text and "12.5万" in text and "合计 12.5万" in text
    assert "今日战报" not in text and "漏交" not in text
    with db.unit_of_work() as s:
        texts = [m.payload["text"] for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.key.like("job:evening:sh1:%")))]
    assert texts and all("上海一组 晚报速递" in t for t in texts)  # every chat of the team, not only Slack


def test_variable_docs_come_from_the_sample() -> None:
    docs = {d["name"]: d for d in variable_docs("evening_leaderboard")}
    assert docs["ranking"]["kind"] == "tpl.kind.list"
    assert "row.name" in {p["name"] for p in docs["ranking"]["parts"]}
    assert docs["day"]["snippet"] == "{{ day|day }}"
