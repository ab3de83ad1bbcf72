"""Whole flows on Feishu at the boundary: a collab approved by card click, the morning fan-out under
rate limits, the weekly chart, and one person across Feishu and Slack."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.types import Inbound, InboundKind
from bot.platforms.feishu.port import FeishuPort
from bot.platforms.feishu.routes import feishu_routes
from bot.platforms.slack.port import SlackPort
from bot.wiring import App
from jobs.runner import run_job
from models import CollabRequest, InboundEvent, OutboxMessage
from tests.support.fake_feishu import (
    HTTP_500,
    RATE,
    FakeFeishu,
    FeishuEnv,
    add_feishu_ids,
    card_buttons,
    card_text,
    feishu_env,
    feishu_settings,
)
from tests.support.fake_slack import running_fake_slack
from tests.support.feishu_events import VERIFICATION_TOKEN, card_event, message_event
from tests.support.org import build_org
from tests.support.sending import drain


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[FeishuEnv]:
    add_feishu_ids(db, build_org(db))
    with feishu_env(db, clock, database_url) as e:
        e.port.sleep = lambda seconds: None
        yield e


def test_a_collab_request_approved_by_a_card_click_updates_the_card_and_tells_the_requester(
        env: FeishuEnv, db: Database) -> None:
    assert env.post_event(message_event("ou_zhang", "/协作 远航集团 客户总部在上海，想约采购总监")).status_code == 200
    [card] = env.fake.to("ou_liu")  # 刘经理 manages 华南, which owns 远航集团
    buttons = card_buttons(card.content)
    assert [(b["action"], b["label"]) for b in buttons] == [("collab_approve", "✅ 批准"), ("collab_reject", "❌ 拒绝")]
    # Someone who may not decide presses it: refused, nothing changes.
    assert env.post_event(card_event("ou_zhang", "collab_approve", buttons[0]["value"],
                                     message_id=card.message_id)).status_code == 200
    with db.unit_of_work() as s:
        assert s.scalar(select(CollabRequest.status)) == "pending"
    # The owning region's manager approves: the click is stored, the card updated, the requester told.
    resp = env.post_event(card_event("ou_liu", "collab_approve", buttons[0]["value"], message_id=card.message_id))
    assert resp.status_code == 200 and resp.json() == {}
    with db.unit_of_work() as s:
        assert s.scalar(select(CollabRequest.status)) == "approved"
    assert len(env.fake.to("ou_liu")) == 1  # no new message to the manager: the card itself changed
    assert card.updates and card_buttons(card.updates[-1]) == []
    assert "批准" in card_text(card.updates[-1]) and "刘经理" in card_text(card.updates[-1])
    told = [t for t in env.fake.texts("ou_zhang") if "远航集团" in t and "批准" in t]
    assert len(told) == 1


@pytest.mark.parametrize("how", ["bad_signature", "stale", "wrong_token"])
def test_a_forged_or_stale_card_click_is_refused_and_decides_nothing(env: FeishuEnv, db: Database,
                                                                    how: str) -> None:
    env.post_event(message_event("ou_zhang", "/协作 远航集团 想约采购总监"))
    [card] = env.fake.to("ou_liu")
    approve = card_buttons(card.content)[0]
    told_before = env.fake.texts("ou_zhang")
    click = card_event("ou_liu", "collab_approve", approve["value"], message_id=card.message_id,
                       token="forged" if how == "wrong_token" else VERIFICATION_TOKEN)
    resp = env.post_event(click, bad_signature=how == "bad_signature",
                          timestamp=env.now_ts() - 400 if how == "stale" else env.now_ts())
    assert resp.status_code == 401
    with db.unit_of_work() as s:
        assert s.scalar(select(CollabRequest.status)) == "pending"
        assert s.scalar(select(func.count()).select_from(InboundEvent)) == 1  # only the request itself
    assert card.updates == [] and env.fake.texts("ou_zhang") == told_before


def test_the_morning_fan_out_under_rate_limits_loses_nothing_and_repeats_nothing(
        env: FeishuEnv, db: Database) -> None:
    for n in range(8):
        env.fake.fail_next("im/v1/messages", RATE if n % 2 else HTTP_500)
    env.fake.rate_reset = 5  # longer than a sender waits: the outbox waits it out
    at = datetime(2026, 11, 23, 0, 45, tzinfo=UTC)  # 08:45 in Shanghai, a Monday
    summary = run_job(db=db, settings=env.app.settings, clock=env.clock, name="morning", at=at,
                      outbox=env.app.outbox)
    assert sum(len(t.keys) for t in summary.teams) >= 3
    drain(env, step=6)
    delivered = Counter((m.receive_id, card_text(m.content)) for m in env.fake.messages)
    assert set(delivered.values()) == {1}
    reps = {m.receive_id for m in env.fake.messages}
    assert {"ou_zhang", "ou_li", "ou_wang"} <= reps
    with db.unit_of_work() as s:
        assert {r.status for r in s.scalars(select(OutboxMessage))} == {"sent"}
    again = run_job(db=db, settings=env.app.settings, clock=env.clock, name="morning", at=at, outbox=env.app.outbox)
    drain(env, step=6)
    assert Counter((m.receive_id, card_text(m.content)) for m in env.fake.messages) == delivered
    assert again.teams and {t.status for t in again.teams} == {"skipped"}  # already sent this morning
    assert sum(len(t.keys) for t in again.teams) == 0


def test_the_weekly_review_reaches_the_team_group_and_managers_with_its_chart_as_an_image(
        env: FeishuEnv, db: Database) -> None:
    at = datetime(2026, 11, 23, 0, 45, tzinfo=UTC)  # the first workday of the week, at the morning time
    run_job(db=db, settings=env.app.settings, clock=env.clock, name="weekly", at=at, outbox=env.app.outbox)
    drain(env, step=6)
    group = env.fake.to("oc_sh1")
    assert [m.msg_type for m in group] == ["interactive", "image"] and group[0].receive_id_type == "chat_id"
    to_manager = env.fake.to("ou_chen")  # 陈经理 manages 华东
    assert [m.msg_type for m in to_manager][-1] == "image"
    assert to_manager[-1].content["image_key"].startswith("img_v3_")
    assert env.fake.calls_to("im/v1/images")


def test_one_person_on_feishu_and_slack_counts_once_on_the_slack_leaderboard(
        db: Database, clock: FixedClock, database_url: str) -> None:
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from tests.support.slack_app import SECRET, TOKEN

    add_feishu_ids(db, build_org(db))
    fake = FakeFeishu()
    with fake.running(), running_fake_slack() as slack:
        settings = feishu_settings(database_url, fake, other={"slack": {
            "bot_token": TOKEN, "signing_secret": SECRET, "api_url": slack.url}})
        assert settings.platforms == ["slack", "feishu"]
        port = FeishuPort(settings, db=db, clock=clock)
        port.client.forget_token()
        app = App(settings, db=db, clock=clock, migrate=False,
                  ports={"feishu": port, "slack": SlackPort(settings)})
        with TestClient(Starlette(routes=feishu_routes(app))) as http:
            env = FeishuEnv(fake, app, port, http, clock)
            env.post_event(message_event("ou_zhang", "日报\n拜访: 6\n签约: 8万", message_id="om_cross"))
            app.dispatch(Inbound(platform="slack", event_key="lb-1", user_id="U_ZHANG", kind=InboundKind.COMMAND,
                                 text="/leaderboard today visits", channel="D_ZHANG"))
        app.handling.close()
        port.close()
    [reply] = [c for c in slack.ok_calls("chat.postMessage") if "排行" in str(c.args.get("text"))]
    text = str(reply.args["text"])
    assert text.count("张伟") == 1 and "张伟 6" in text
    assert "李娜" in text  # on the board, without a report
    assert len(fake.to("ou_zhang")) == 1  # the report's reply went back to Feishu only
