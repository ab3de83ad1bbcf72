"""A busy day through the fake Slack and the fake WeCom: every body the bot sends is within the platforms' limits.

A big team (60 reps, long names, 240 customers with long names, dozens of follow-ups each, long
reports, a weekly review with its chart) goes through the scheduled jobs and the commands people
use most. Then every recorded request is checked: Slack messages against slack_sdk's Block Kit
models (at most 50 blocks, sections up to 3,000 characters, button limits, a fallback text
always), Slack modals against its View model, WeCom text and markdown contents up to 2,048 bytes,
WeCom cards up to 6 buttons with task ids of at most 128 bytes of [0-9A-Za-z_-@].
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.types import Action, Inbound, InboundKind
from bot.platforms.slack.port import SlackPort
from bot.platforms.wecom.port import WecomPort
from bot.wiring import App
from jobs.runner import run_job
from models import DailyReport, Person, Team
from services.transfer import Row, import_rows
from tests.conftest import make_settings
from tests.support.fake_slack import FakeSlack, running_fake_slack
from tests.support.fake_wecom import AES_KEY, AGENT_ID, CALLBACK_TOKEN, FakeWecom

REPS = 60
CUSTOMERS_PER_REP = 4
BUSIEST_CUSTOMERS = 40  # r00 has this many, all overdue
# An admin's own /跟进 text that lists every follow-up in full (admins may): the platforms must cope.
FOLLOWUPS_IN_FULL = (
    "📋 {{ name }}，你有 {{ items|length }} 条待跟进：\n{% for f in items %}\n"
    "- **{{ f.customer }}**（{{ f.tier }} · {{ f.stage }}）：{{ f.kind_label }}，应于 {{ f.due|day }}，"
    "已逾期 {{ f.overdue_days }} 个工作日\n{% endfor %}\n点 ✅ 表示已跟进，点 ⏰ 顺延一个工作日。"
)
MONDAY = date(2026, 12, 7)
ZONE_OFFSET = timedelta(hours=8)  # the team is in Asia/Shanghai

WECOM_CONTENT_BYTES = 2048
WECOM_BUTTONS = 6
WECOM_TASK_ID = re.compile(r"^[0-9A-Za-z_\-@]{1,128}$")
WECOM_TITLE_CHARS = 36
WECOM_SUBTITLE_CHARS = 112
SLACK_BLOCKS = 50
SLACK_TEXT_CHARS = 40_000


def at(hhmm: str, day: date = MONDAY) -> datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=UTC) - ZONE_OFFSET


def _rows(header: tuple[str, ...], values: list[tuple[Any, ...]]) -> tuple[list[str], list[Row]]:
    return list(header), [Row(i + 2, {c: str(v) for c, v in zip(header, vs, strict=True)})
                          for i, vs in enumerate(values)]


def rep_name(i: int) -> str:
    # some names are long, as a real organisation's are (a name with a department in it)
    return f"欧阳{i:02d}·华东大客户部第三事业群资深客户经理" if i % 2 == 0 else f"销售{i:02d}号"


def customer_name(i: int, k: int) -> str:
    return f"上海浦东新区张江高科技园区国际贸易与供应链管理集团有限公司第{i:02d}{k}分公司（华东区域总部）"


def build_busy_org(db: Database, webhook: str) -> None:
    now = at("08:00")
    batches = [
        ("regions", _rows(("code", "name", "parent"), [("east", "华东", ""), ("big", "浦东大区", "east")])),
        ("teams", _rows(("code", "name", "region", "timezone", "locale", "slack_channel", "wecom_chat",
                         "wecom_webhook"),
                        [("big1", "浦东大客户一组（战略客户与重点行业）", "big", "Asia/Shanghai", "zh-CN", "CBIG1", "wrbig1",
                          webhook)])),
        ("users", _rows(("code", "name", "role", "team", "manages", "slack_user", "wecom_user"),
                        [(f"r{i:02d}", rep_name(i), "rep", "big1", "", f"UR{i:02d}", f"r{i:02d}")
                         for i in range(REPS)]
                        + [("boss", "陈建林", "manager", "big1", "east", "UBOSS", "boss"),
                           ("admin", "系统管理员", "admin", "", "", "UADMIN", "admin")])),
        ("customers", _rows(
            ("name", "region", "owner", "tier", "industry", "parent", "stage", "last_contact", "next_follow_up"),
            [(customer_name(i, k), "big", f"r{i:02d}", "ABC"[k % 3], "制造", "",
              ("needs", "proposal", "negotiation", "lead")[k % 4], (MONDAY - timedelta(days=40)).isoformat(),
              (MONDAY - timedelta(days=3 + k)).isoformat())
             for i in range(REPS) for k in range(CUSTOMERS_PER_REP if i else BUSIEST_CUSTOMERS)])),
        ("goals", _rows(("scope", "code", "period", "metric", "target", "floor", "stretch"),
                        [("user", f"r{i:02d}", "2026-12", m, t, "", "") for i in range(REPS)
                         for m, t in (("signed_amount", 400000), ("visits", 40))]
                        + [("team", "big1", "2026-12", "signed_amount", 400000 * REPS, "", "")])),
    ]
    with db.unit_of_work() as s:
        for kind, (header, rows) in batches:
            import_rows(session=s, kind=kind, header=header, rows=rows, now=now)
        team = s.query(Team).filter_by(code="big1").one()
        people = s.query(Person).filter(Person.team_id == team.id, Person.role == "rep").all()
        plan = "；".join(f"拜访{customer_name(n % REPS, n % 4)}，确认方案与报价细节" for n in range(12))
        for n, person in enumerate(people):  # last week: reports with long plans
            for back in range(3, 8):
                day = MONDAY - timedelta(days=back)
                if day.weekday() >= 5:
                    continue
                s.add(DailyReport(person_id=person.id, team_id=team.id, day=day, visits=n % 5,
                                  signed_amount=Decimal(1000 * (n * 37 % 400)), plan=plan, blockers=plan[:300],
                                  extra={}, key_actions=[plan[:80]] * 3, raw_text="日报",
                                  submitted_at=at("18:00", day), updated_at=at("18:00", day)))
        # every opportunity stalled for a month
        from models import Customer
        for c in s.query(Customer).all():
            c.stage_changed_at = now - timedelta(days=30)


@pytest.fixture()
def busy(db: Database, database_url: str) -> Iterator[tuple[App, FakeSlack, FakeWecom, FixedClock]]:
    clock = FixedClock(at("08:00"))
    fake_wecom = FakeWecom(clock=lambda: clock.now().timestamp(), per_member_per_minute=0)
    with running_fake_slack() as fake_slack, fake_wecom.running():
        settings = make_settings(
            database_url,
            slack={"bot_token": "xoxb-busy", "signing_secret": "s", "api_url": fake_slack.url},
            wecom={"corp_id": fake_wecom.corp_id, "agent_id": AGENT_ID, "secret": fake_wecom.secret,
                   "token": CALLBACK_TOKEN, "encoding_aes_key": AES_KEY, "api_base_url": fake_wecom.url,
                   "per_member_per_minute": 10_000},
            outbox={"http_timeout_seconds": 5.0, "base_backoff_seconds": 0.05})
        build_busy_org(db, fake_wecom.webhook_url("robot-big1"))
        wecom = WecomPort(settings, db=db, clock=clock)
        wecom.client.forget_token()
        app = App(settings, db=db, clock=clock, ports={"slack": SlackPort(settings), "wecom": wecom},
                  migrate=False)
        try:
            yield app, fake_slack, fake_wecom, clock
        finally:
            app.close()


def say(app: App, platform: str, user: str, text: str, n: list[int]) -> None:
    n[0] += 1
    kind = InboundKind.COMMAND if text.startswith("/") else InboundKind.MESSAGE
    extra = {"trigger_id": f"trig-{n[0]}"} if platform == "slack" and kind == InboundKind.COMMAND else {}
    app.dispatch(Inbound(platform, f"busy-{n[0]}", user, kind, text=text, **extra))


def press(app: App, platform: str, user: str, action_id: str, value: str, n: list[int]) -> None:
    n[0] += 1
    app.dispatch(Inbound(platform, f"busy-{n[0]}", user, InboundKind.ACTION, action=Action(action_id, value)))


def busy_day(app: App, clock: FixedClock) -> None:
    n = [0]
    for job, hhmm in (("weekly", "08:45"), ("morning", "08:45"), ("nudges", "10:00")):
        clock.at = at(hhmm)
        run_job(db=app.db, settings=app.settings, clock=clock, name=job, team_codes=["big1"], at=at(hhmm),
                outbox=app.outbox)
    clock.at = at("11:00")
    say(app, "wecom", "admin", "/模板 save followups zh-CN\n" + FOLLOWUPS_IN_FULL, n)
    # a help text longer than a Slack text input holds: editing it on Slack must not open a modal
    say(app, "wecom", "admin", "/模板 save help zh-CN\n**帮助**（{{ name }}）\n" + "- 说明文字\n" * 600, n)
    say(app, "slack", "UADMIN", "/模板 edit help", n)
    long_plan = "\n".join(f"{k}. 拜访{customer_name(k, 1)}，演示方案并确认预算" for k in range(40))
    for platform, user in (("slack", "UR00"), ("wecom", "r00")):
        say(app, platform, user, f"日报\n拜访：5\n签约：12.5万\n明日计划：{long_plan}\n问题：{long_plan[:1500]}", n)
        say(app, platform, user, "/跟进", n)
        say(app, platform, user, f"/客户 {customer_name(0, 1)}", n)
        say(app, platform, user, "/排行 本月", n)
        say(app, platform, user, "/帮助", n)
        say(app, platform, user, "/日报", n)
        say(app, platform, user, f"/拜访 {customer_name(0, 2)} 阶段=签约 下次=+3d {long_plan[:600]}", n)
        say(app, platform, user, "今日三件事\n" + long_plan, n)
    boss = {"slack": "UBOSS", "wecom": "boss"}
    for platform in ("slack", "wecom"):
        say(app, platform, boss[platform], "/目标", n)
        say(app, platform, boss[platform], "/目标 分解 团队 big1 2026-12 签约 按=平均", n)
        with app.db.unit_of_work() as s:
            from models import GoalProposal
            proposal = s.query(GoalProposal).order_by(GoalProposal.id.desc()).first()
            assert proposal is not None
            proposal_id = proposal.id
        press(app, platform, boss[platform], "goal_apply", str(proposal_id), n)
    for platform, user in (("slack", "UR01"), ("wecom", "r01")):
        say(app, platform, user, "/跟进", n)
        press(app, platform, user, "nudge_done", _first_followup(app, "r01"), n)
    for job, hhmm in (("reminder", "17:30"), ("evening", "18:30")):
        clock.at = at(hhmm)
        run_job(db=app.db, settings=app.settings, clock=clock, name=job, team_codes=["big1"], at=at(hhmm),
                outbox=app.outbox)
    for _ in range(20):  # anything left (a retry, a paced WeCom message)
        if app.outbox.backlog() == 0:
            break
        clock.advance(seconds=120)
        app.outbox.deliver()
    from models import OutboxMessage, OutboxStatus
    with app.db.unit_of_work() as s:
        unsent = [(m.key, m.status, m.last_error) for m in s.query(OutboxMessage)
                  .filter(OutboxMessage.status != OutboxStatus.SENT)]
    assert unsent == [], "messages the bot could not send"


def _first_followup(app: App, code: str) -> str:
    from models import FollowUp
    with app.db.unit_of_work() as s:
        owner = s.query(Person).filter_by(code=code).one()
        f = s.query(FollowUp).filter(FollowUp.owner_id == owner.id, FollowUp.open_key.is_not(None)).first()
        assert f is not None
        return str(f.id)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def slack_problems(fake: FakeSlack) -> tuple[list[str], dict[str, int]]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    for call in fake.all_calls():
        seen[call.method] = seen.get(call.method, 0) + 1
        args = call.args
        where = f"{call.method} to {args.get('channel') or args.get('trigger_id')}"
        if call.method in ("chat.postMessage", "chat.update"):
            text = str(args.get("text") or "")
            if not text.strip():
                problems.append(f"{where}: no fallback text")
            if len(text) > SLACK_TEXT_CHARS:
                problems.append(f"{where}: text of {len(text)} characters")
            blocks = _json(args.get("blocks")) or []
            if len(blocks) > SLACK_BLOCKS:
                problems.append(f"{where}: {len(blocks)} blocks")
            for block in Block.parse_all(blocks):
                try:
                    block.validate_json()
                except Exception as exc:  # noqa: BLE001 - each refusal is a finding
                    problems.append(f"{where}: {type(exc).__name__}: {exc}")
        elif call.method == "views.open":
            view = _json(args.get("view"))
            try:
                View(**view).validate_json()
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{where}: {type(exc).__name__}: {exc}")
            for block in view.get("blocks") or []:
                element = block.get("element") or {}
                initial = str(element.get("initial_value") or "")
                if len(initial) > min(3000, int(element.get("max_length") or 3000)):
                    problems.append(f"{where}: an input starts with {len(initial)} characters")
    return problems, seen


def _card_problems(where: str, card: dict[str, Any]) -> list[str]:
    problems = []
    buttons = card.get("button_list") or []
    if len(buttons) > WECOM_BUTTONS:
        problems.append(f"{where}: {len(buttons)} buttons")
    keys = [str(b.get("key") or "") for b in buttons]
    if len(set(keys)) != len(keys) or any(len(k.encode()) > 1024 for k in keys):
        problems.append(f"{where}: button keys not unique or too long")
    task_id = str(card.get("task_id") or "")
    if card.get("card_type") == "button_interaction" and not WECOM_TASK_ID.match(task_id):
        problems.append(f"{where}: task id {task_id!r}")
    if len(str((card.get("main_title") or {}).get("title") or "")) > WECOM_TITLE_CHARS:
        problems.append(f"{where}: title longer than {WECOM_TITLE_CHARS} characters")
    if len(str(card.get("sub_title_text") or "")) > WECOM_SUBTITLE_CHARS:
        problems.append(f"{where}: sub title longer than {WECOM_SUBTITLE_CHARS} characters")
    return problems


def wecom_problems(fake: FakeWecom) -> tuple[list[str], dict[str, int]]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    for call in fake.calls:
        body = call.body
        msgtype = str(body.get("msgtype") or "")
        seen[f"{call.path} {msgtype}".strip()] = seen.get(f"{call.path} {msgtype}".strip(), 0) + 1
        where = f"{call.path} {msgtype} to {body.get('touser') or body.get('chatid') or 'robot'}"
        if msgtype in ("text", "markdown"):
            size = len(str((body.get(msgtype) or {}).get("content") or "").encode())
            if size > WECOM_CONTENT_BYTES:
                problems.append(f"{where}: {size} bytes")
        if msgtype == "template_card" or call.path == "message/update_template_card":
            problems += _card_problems(where, body.get("template_card") or {})
    return problems, seen


def test_a_busy_day_stays_within_what_slack_and_wecom_accept(
        busy: tuple[App, FakeSlack, FakeWecom, FixedClock]) -> None:
    app, fake_slack, fake_wecom, clock = busy
    busy_day(app, clock)
    slack, slack_seen = slack_problems(fake_slack)
    wecom, wecom_seen = wecom_problems(fake_wecom)
    assert slack == [] and wecom == []
    # the day really was busy: long messages, buttons, modals, cards, card updates, the chart
    assert slack_seen.get("chat.postMessage", 0) > 3 * REPS and slack_seen.get("views.open") == 1
    assert slack_seen.get("chat.update", 0) >= 1 and slack_seen.get("files.completeUploadExternal", 0) >= 1
    assert wecom_seen.get("message/send template_card", 0) > REPS and wecom_seen.get("media/upload", 0) >= 1
    assert wecom_seen.get("message/update_template_card", 0) >= 1
    long_parts = [c for c in fake_wecom.calls if len(json.dumps(c.body, ensure_ascii=False).encode()) > 1800]
    assert long_parts, "no WeCom message came near the limit: the day was not busy enough to test it"
    assert any(len(_json(c.args.get("blocks")) or []) >= 3 for c in fake_slack.all_calls("chat.postMessage")), \
        "no Slack message needed several sections"


def test_the_checks_catch_what_slack_and_wecom_refuse() -> None:
    """The checks themselves: a section over 3,000 characters, 51 blocks, 7 buttons, a bad task id."""
    fake = FakeSlack()
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    fake.answer("chat.postMessage", {"channel": "C1", "text": "t", "blocks": [section]})
    fake.answer("chat.postMessage", {"channel": "C1", "text": "",
                                     "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51})
    problems, _ = slack_problems(fake)
    assert any("3000" in p for p in problems) and any("51 blocks" in p for p in problems)
    assert any("no fallback text" in p for p in problems)
    wecom = FakeWecom()
    card = {"card_type": "button_interaction", "task_id": "a.b", "main_title": {"title": "t"},
            "button_list": [{"text": "b", "key": f"k{i}"} for i in range(7)]}
    wecom.calls.append(_call("message/send", {"msgtype": "template_card", "template_card": card}))
    wecom.calls.append(_call("message/send", {"msgtype": "markdown", "markdown": {"content": "字" * 700}}))
    problems, _ = wecom_problems(wecom)
    assert any("7 buttons" in p for p in problems) and any("task id" in p for p in problems)
    assert any("2100 bytes" in p for p in problems)


def _call(path: str, body: dict[str, Any]) -> Any:
    from tests.support.fake_wecom import Call
    return Call(path, {}, body, 0, 0.0)
