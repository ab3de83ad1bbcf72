"""Whole scheduled flows on DingTalk at the boundary: the morning fan-out under injected rate limits and
the weekly review with its chart, from the real jobs through the outbox to the fake DingTalk API."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.core.db import Database
from jobs.runner import run_job
from models import OutboxMessage, TeamChat
from tests.support.fake_dingtalk import (
    RATE,
    RATE_90018,
    THROTTLE,
    DingtalkEnv,
    add_dingtalk_ids,
    add_dingtalk_reps,
    dingtalk_env,
)
from tests.support.org import build_org

MONDAY_MORNING = datetime(2026, 11, 23, 0, 45, tzinfo=UTC)  # 08:45 in Shanghai, the first workday of the week


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[DingtalkEnv]:
    org = build_org(db)
    add_dingtalk_ids(db)
    with db.unit_of_work() as s:
        for team in ("sh1", "gz1"):
            s.add(TeamChat(team_id=org.ids["team:" + team], platform="dingtalk", kind="chat", target=f"cid{team}=="))
    with dingtalk_env(db, clock, database_url) as e:
        yield e


def seen(env: DingtalkEnv) -> Counter[tuple[str, str, str]]:
    """Every message a person or group saw: (recipient, kind, its text or picture)."""
    return Counter((d.to, d.kind, str(d.param.get("text") or d.param.get("photoURL") or ""))
                   for d in env.fake.delivered)


def test_the_morning_job_fan_out_under_injected_rate_limits_loses_nothing_and_repeats_nothing(
        env: DingtalkEnv, db: Database) -> None:
    add_dingtalk_reps(db, 24)  # a bigger team than the test organisation's, only on DingTalk
    env.fake.chaos_rate = 0.5  # half the sends: 403 QPS limit, 90018, throttled recipients in a 200, or a 500
    summary = run_job(db=db, settings=env.app.settings, clock=env.clock, name="morning", at=MONDAY_MORNING,
                      outbox=env.app.outbox)
    assert sum(len(t.keys) for t in summary.teams) >= 3
    env.drain(step=2.0)
    delivered = seen(env)
    assert set(delivered.values()) == {1}
    assert {"dt_zhang", "dt_li", "dt_wang"} | {f"dt_rep{i}" for i in range(24)} <= {to for to, _, _ in delivered}
    assert sum(1 for c in env.fake.calls if c.outcome in (RATE, RATE_90018, THROTTLE)) >= 5
    with db.unit_of_work() as s:
        assert {r.status for r in s.scalars(select(OutboxMessage))} == {"sent"}
    # The job run again for the same morning (a second scheduler, a restart) sends nothing more.
    again = run_job(db=db, settings=env.app.settings, clock=env.clock, name="morning", at=MONDAY_MORNING,
                    outbox=env.app.outbox)
    assert again.teams and {t.status for t in again.teams} == {"skipped"}
    env.drain(step=2.0)
    assert seen(env) == delivered


def test_the_weekly_review_reaches_the_team_group_and_managers_with_its_chart_as_an_image(
        env: DingtalkEnv, db: Database) -> None:
    run_job(db=db, settings=env.app.settings, clock=env.clock, name="weekly", at=MONDAY_MORNING,
            outbox=env.app.outbox)
    env.drain(step=2.0)
    group = env.fake.to("cidsh1==")
    assert [d.kind for d in group] == ["sampleMarkdown", "sampleImageMsg"]
    assert group[0].call.path == "v1.0/robot/groupMessages/send"
    uploads = env.fake.calls_to("oapi/media/upload")
    assert uploads and all(u.query["type"] == "image" and u.body["_multipart"] for u in uploads)
    picture = group[1].param["photoURL"]
    assert env.fake.media[picture] > 1000  # a real PNG went up, and the message shows that upload
    to_manager = env.fake.to("dt_meast")  # 陈经理 manages 华东
    assert [d.kind for d in to_manager][-1] == "sampleImageMsg"
    assert to_manager[-1].param["photoURL"] in env.fake.media
