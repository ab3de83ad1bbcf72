"""Sending through the DingTalk API: markdown dialect, splitting, images, tokens, rate limits, quotas, timeouts."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator

import pytest

from bot import metrics
from bot.core import kvstate
from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.outbox import enqueue
from bot.core.types import Button, Outbound, ToPerson, ToTarget
from bot.platforms.dingtalk.convert import (
    MSG_PARAM_LIMIT,
    message_requests,
    split_markdown,
    to_dingtalk_markdown,
)
from models import KeyValue
from tests.support.fake_dingtalk import (
    HTTP_500,
    INVALID,
    QUOTA,
    RATE,
    RATE_90018,
    SLOW,
    THROTTLE,
    DingtalkEnv,
    add_dingtalk_ids,
    add_dingtalk_reps,
    dingtalk_env,
)
from tests.support.org import build_org
from tests.support.sending import person_id, rows, send

BATCH = "v1.0/robot/oToMessages/batchSend"
GROUP = "v1.0/robot/groupMessages/send"


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[DingtalkEnv]:
    build_org(db)
    add_dingtalk_ids(db)
    with dingtalk_env(db, clock, database_url) as e:
        yield e




# -- the dialect, pure ----------------------------------------------------------------------------

def test_tables_become_list_lines_and_code_turns_bold() -> None:
    neutral = "**排行**\n| 名次 | 姓名 | 签约 |\n|---|:---:|---|\n| 1 | 张伟 | 12.5万 |\n运行 `/help` 看说明\n```\ncode\n```"
    out = to_dingtalk_markdown(neutral)
    assert "|" not in out and "`" not in out
    assert "- 1 · 张伟 · 12.5万" in out
    assert "- 名次 · 姓名 · 签约" in out
    assert "运行 **/help** 看说明  \ncode" in out  # a command stands out; a kept line break inside a paragraph
    # inside bold the backticks just go (bold in bold would close it); an empty code span is left as it was
    assert to_dingtalk_markdown("**模板 `nudge` 预览** 用 `/模板 show nudge`") == "**模板 nudge 预览** 用 **/模板 show nudge**"
    assert to_dingtalk_markdown("空的 `` 和 **不成对 `x`") == "空的  和 **不成对 x"


def test_long_markdown_is_split_under_the_msg_param_limit() -> None:
    text = "\n".join(f"第{i}行 \"引号\" 和换行 {'内容' * 40}" for i in range(400))
    parts = split_markdown("标题", text)
    assert len(parts) > 1
    assert all(len(json.dumps({"title": "标题", "text": p}, ensure_ascii=False).encode()) <= MSG_PARAM_LIMIT
               for p in parts)
    assert "\n".join(parts) == text


def test_the_requests_of_a_group_post_and_a_dm() -> None:
    group = message_requests({"text": "**晚报**\n- 张伟 3"}, key="k", target_kind="chat", target="cidG",
                             robot_code="dingrobot")
    assert [(r.path, r.body["openConversationId"], r.body["msgKey"]) for r in group] == [
        (GROUP, "cidG", "sampleMarkdown")]
    dm = message_requests({"text": "hi", "image_b64": base64.b64encode(b"png").decode()}, key="k",
                          target_kind="user", target="dt_zhang", robot_code="dingrobot")
    assert [(r.path, r.body["msgKey"], r.image) for r in dm] == [
        (BATCH, "sampleMarkdown", None), (BATCH, "sampleImageMsg", b"png")]


# -- sending ------------------------------------------------------------------------------------

def test_a_dm_goes_to_every_platform_the_person_has_with_one_token(env: DingtalkEnv, db: Database) -> None:
    keys = send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="**早上好**\n今天的目标"))
    assert env.fake.texts("dt_zhang") == ["**早上好**  \n今天的目标"]
    row = rows(db)[keys[0]]
    assert row.status == "sent" and (row.ref_id or "").startswith("PQK")
    send(env, Outbound(to=ToPerson(person_id(db, "li")), text="again"), base="t2")
    assert len(env.fake.calls_to("v1.0/oauth2/accessToken")) == 1
    with db.unit_of_work() as s:  # the token is shared through the database with other processes
        assert s.get(KeyValue, f"dingtalk_token:{env.fake.client_id}") is not None


def test_an_expired_token_is_refreshed_once_and_the_message_sent_once(env: DingtalkEnv, db: Database) -> None:
    send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="one"))
    env.fake.expire_token()
    env.port.client.forget_token()
    with db.unit_of_work() as s:  # another process's copy is stale too
        s.execute(KeyValue.__table__.update().values(value="DTTOKEN-stale"))
    send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="two"), base="t2")
    assert env.fake.texts("dt_zhang") == ["one", "two"]
    assert len(env.fake.calls_to("v1.0/oauth2/accessToken")) == 2


def test_refused_credentials_do_not_loop(env: DingtalkEnv, db: Database) -> None:
    env.fake.client_secret = "rotated"
    env.fake.expire_token()
    env.port.client.forget_token()
    with db.unit_of_work() as s:
        s.execute(KeyValue.__table__.delete())
    keys = send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="x"))
    assert len(env.fake.calls_to("v1.0/oauth2/accessToken")) == 1
    row = rows(db)[keys[0]]
    assert row.status == "pending" and "access token refused" in (row.last_error or "")


@pytest.mark.parametrize("outcome", [RATE, RATE_90018, THROTTLE, HTTP_500])
def test_rate_limits_and_throttled_recipients_are_waited_out_and_sent_once(env: DingtalkEnv, db: Database,
                                                                           outcome: str) -> None:
    env.fake.fail_next(BATCH, outcome, outcome)
    keys = send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="paced"))
    row = rows(db)[keys[0]]
    assert row.status == "pending"
    if outcome != HTTP_500:
        assert (row.next_attempt_at - env.clock.now()).total_seconds() == pytest.approx(1.0)
    env.drain(step=1.0)
    assert env.fake.texts("dt_zhang") == ["paced"]


def test_an_invalid_recipient_is_given_up(env: DingtalkEnv, db: Database) -> None:
    env.fake.fail_next(BATCH, INVALID)
    keys = send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="x"))
    assert rows(db)[keys[0]].status == "dead"


def test_a_quota_error_stops_retries_and_is_reported(env: DingtalkEnv, db: Database) -> None:
    metrics.install(env.app)
    before = metrics.SENDS.labels(platform="dingtalk", outcome="quota")._value.get()
    env.fake.fail_next(BATCH, QUOTA)
    keys = send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="x"))
    row = rows(db)[keys[0]]
    assert row.status == "dead" and "90020" in (row.last_error or "")
    env.clock.advance(seconds=3600)
    env.app.outbox.deliver()
    assert len(env.fake.calls_to(BATCH)) == 1  # never tried again
    assert metrics.SENDS.labels(platform="dingtalk", outcome="quota")._value.get() == before + 1
    noted = kvstate.quota_exceeded(db, platform="dingtalk", now=env.clock.now())
    assert noted is not None and "90020" in noted["error"]


def test_a_send_that_timed_out_is_retried_a_bounded_number_of_times_and_counted(
        db: Database, clock: FixedClock, database_url: str) -> None:
    build_org(db)
    add_dingtalk_ids(db)
    with dingtalk_env(db, clock, database_url, outbox={"http_timeout_seconds": 0.3},
                      dingtalk={"timeout_retries": 1}) as env:
        env.fake.slow_seconds = 0.6
        metrics.install(env.app)
        retries = metrics.SENDS.labels(platform="dingtalk", outcome="timeout_retry")._value.get()
        env.fake.fail_next(BATCH, SLOW, SLOW, SLOW)
        keys = send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="slow"))
        env.drain(step=5.0)
        row = rows(db)[keys[0]]
        # Each timed-out send arrived: DingTalk has no idempotency key, so the bot stops after one retry.
        assert len(env.fake.texts("dt_zhang")) == 2
        assert row.status == "dead" and "not retried again" in (row.last_error or "")
        assert metrics.SENDS.labels(platform="dingtalk", outcome="timeout_retry")._value.get() == retries + 1


def test_the_weekly_chart_arrives_as_an_image(env: DingtalkEnv, db: Database) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"x" * 2000
    send(env, Outbound(to=ToTarget("dingtalk", "chat", "cidTEAM"), text="**周报**", image=png,
                       image_name="weekly.png"))
    uploads = env.fake.calls_to("oapi/media/upload")
    assert len(uploads) == 1 and uploads[0].query["type"] == "image" and uploads[0].body["_multipart"]
    images = [d for d in env.fake.to("cidTEAM") if d.kind == "sampleImageMsg"]
    assert len(images) == 1 and images[0].param["photoURL"] in env.fake.media
    assert [d.kind for d in env.fake.to("cidTEAM")] == ["sampleMarkdown", "sampleImageMsg"]


def test_a_long_message_whose_send_fails_midway_is_not_repeated(env: DingtalkEnv, db: Database) -> None:
    text = "\n".join(f"- 第{i}行 {'内容' * 60}" for i in range(200))
    env.fake.fail_next(BATCH, "ok", HTTP_500)  # the first part goes, the second fails
    keys = send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text=text))
    assert rows(db)[keys[0]].status == "pending"
    env.drain()
    texts = env.fake.texts("dt_zhang")
    assert len(texts) == len(set(texts)) >= 2
    assert "\n".join(texts).count("第199行") == 1


def test_buttons_without_a_card_template_name_the_commands_to_type(env: DingtalkEnv, db: Database) -> None:
    send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="**跟进** 远航集团",
                       buttons=(Button("完成", "nudge_done", "17"), Button("推迟", "nudge_snooze", "17"))))
    text = env.fake.texts("dt_zhang")[0]
    assert "/完成 17" in text and "/推迟 17" in text
    assert env.fake.calls_to("v1.0/card/instances/createAndDeliver") == []


def test_the_morning_fan_out_under_injected_rate_limits_loses_nothing_and_repeats_nothing(
        env: DingtalkEnv, db: Database) -> None:
    people = add_dingtalk_reps(db, 60)
    env.fake.chaos_rate = 0.35
    with db.unit_of_work() as s:
        enqueue(s, [Outbound(to=ToPerson(pid), text=f"早上好 {pid}", key=f"morning:{pid}") for pid in people],
                base_key="morning", settings=env.app.settings, now=env.clock.now())
    env.drain(step=1.0)
    delivered = Counter(d.to for d in env.fake.delivered)
    assert set(delivered) == {f"dt_rep{i}" for i in range(60)}
    assert set(delivered.values()) == {1}
    assert sum(1 for c in env.fake.calls if c.outcome in (RATE, RATE_90018, THROTTLE)) > 5
    assert all(r.status == "sent" for r in rows(db).values())


def test_a_missing_permission_is_given_up_without_token_refreshes(env: DingtalkEnv, db: Database) -> None:
    env.fake.extra_routes[("POST", BATCH)] = lambda body: (403, {
        "code": "Forbidden.AccessDenied.AccessTokenPermissionDenied",
        "message": "没有调用该接口的权限，接口权限申请参考：qyapi_robot_sendmsg"})
    keys = send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="x"))
    row = rows(db)[keys[0]]
    assert row.status == "dead" and "qyapi_robot_sendmsg" in (row.last_error or "")
    assert len(env.fake.calls_to("v1.0/oauth2/accessToken")) == 1
