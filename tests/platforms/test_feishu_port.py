"""FeishuPort against the fake Feishu API: cards, splitting, images, uuid, tokens, rate limits, quota."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator

import pytest

from bot.core import kvstate
from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.outbox import enqueue
from bot.core.types import Button, Outbound, ToPerson, ToTarget
from bot.platforms.feishu.convert import CARD_LIMIT, card_size, message_parts, planned_requests
from bot.platforms.feishu.convert import send_uuid as parts_uuid
from bot.platforms.feishu.port import Pacer
from tests.support.fake_feishu import (
    BAD_RECIPIENT,
    HTTP_500,
    PASS,
    QUOTA,
    RATE,
    FeishuEnv,
    add_feishu_ids,
    card_buttons,
    card_text,
    feishu_env,
)
from tests.support.org import build_org
from tests.support.sending import drain, person_id, rows, send

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[FeishuEnv]:
    org = build_org(db)
    add_feishu_ids(db, org)
    with feishu_env(db, clock, database_url) as e:
        e.port.sleep = lambda seconds: None  # rate-limit waits are counted, not slept
        e.port.pacer = Pacer(5)  # the pacer really waits (the fake enforces 5 a second per target)
        yield e


def test_long_markdown_is_split_into_cards_under_the_limit_each_with_its_own_uuid() -> None:
    text = "\n".join(f"- 第{i}行：远航集团 拜访记录 <备注> **加粗**" for i in range(2000))
    parts = message_parts("key:1", {"text": text, "title": "周报"})
    assert len(parts) >= 3
    assert all(card_size(p.content) <= CARD_LIMIT for p in parts)
    assert len({p.uuid for p in parts}) == len(parts) and all(len(p.uuid) <= 50 for p in parts)
    joined = "\n".join(card_text(p.content) for p in parts)
    assert "&lt;备注&gt;" in joined and "<备注>" not in joined
    assert message_parts("key:1", {"text": text, "title": "周报"}) == parts  # the same key, the same uuids
    calls = planned_requests("key:1", "chat", "oc_1", {"text": "hi", "image_b64": base64.b64encode(PNG).decode(),
                                                        "image_name": "w.png"})
    assert [api for api, _ in calls] == ["POST im/v1/messages?receive_id_type=chat_id", "POST im/v1/images",
                                         "POST im/v1/messages?receive_id_type=chat_id"]
    assert calls[2][1]["msg_type"] == "image" and calls[2][1]["content"] == {"image_key": "<image_key from im/v1/images>"}
    assert calls[0][1]["uuid"] == parts_uuid("key:1", 0) and calls[2][1]["uuid"] == parts_uuid("key:1", 1)
    assert planned_requests("k", "user", "ou_1", {"text": "done"}, update_id="om_9")[0][0] == \
        "PATCH im/v1/messages/om_9"


def test_a_long_message_arrives_whole_in_order(env: FeishuEnv, db: Database) -> None:
    text = "\n".join(f"第{i}行 " + "数据" * 30 for i in range(600))
    send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text=text, key="long"))
    got = env.fake.texts("ou_zhang")
    assert len(got) >= 2 and "\n".join(got) == text


def test_buttons_carry_action_and_value_and_a_decision_updates_the_card(env: FeishuEnv, db: Database) -> None:
    chen = person_id(db, "mgr_east")
    send(env, Outbound(to=ToPerson(chen), text="**协作申请** 远航集团", key="collab:9:req",
                       buttons=(Button("批准", "collab_approve", "9", "primary"),
                                Button("拒绝", "collab_reject", "9", "danger"))))
    card = env.fake.to("ou_chen")[0]
    assert card_buttons(card.content) == [
        {"label": "批准", "type": "primary_filled", "action": "collab_approve", "value": "9"},
        {"label": "拒绝", "type": "danger", "action": "collab_reject", "value": "9"}]
    assert card.content["config"]["update_multi"] is True
    assert rows(db)["collab:9:req:feishu"].ref_id == card.message_id
    send(env, Outbound(to=ToPerson(chen), text="✅ 已批准", key="collab:9:done", update_of="collab:9:req"))
    assert len(env.fake.to("ou_chen")) == 1  # updated in place, nothing new
    assert card_text(card.updates[-1]) == "✅ 已批准" and card_buttons(card.updates[-1]) == []


def test_an_update_of_a_card_that_cannot_be_updated_is_sent_anew(env: FeishuEnv, db: Database) -> None:
    zhang = person_id(db, "zhang")
    send(env, Outbound(to=ToPerson(zhang), text="卡片", key="c1", buttons=(Button("好", "nudge_done", "1"),)))
    env.fake.fail_next("patch", BAD_RECIPIENT)
    send(env, Outbound(to=ToPerson(zhang), text="已完成", key="c2", update_of="c1"))
    assert env.fake.texts("ou_zhang") == ["卡片", "已完成"]
    assert rows(db)["c2:feishu"].status == "sent"


def test_the_weekly_chart_arrives_as_an_image(env: FeishuEnv, db: Database) -> None:
    send(env, Outbound(to=ToTarget("feishu", "chat", "oc_team_sh1"), text="**周报**", key="weekly",
                       image=PNG, image_name="weekly.png"))
    got = env.fake.to("oc_team_sh1")
    assert [m.msg_type for m in got] == ["interactive", "image"]
    assert got[1].receive_id_type == "chat_id" and got[1].content["image_key"].startswith("img_v3_")
    assert env.fake.calls_to("im/v1/images")[0].body["_multipart"] is True


def test_an_expired_token_is_refreshed_once_and_nothing_is_lost(env: FeishuEnv, db: Database) -> None:
    zhang = person_id(db, "zhang")
    send(env, Outbound(to=ToPerson(zhang), text="一", key="a"))
    env.fake.expire_token()
    send(env, Outbound(to=ToPerson(zhang), text="二", key="b"))
    assert env.fake.texts("ou_zhang") == ["一", "二"]
    assert env.fake.tokens_issued == 2
    env.port.client.forget_token()  # a fresh process finds the token in the database
    send(env, Outbound(to=ToPerson(zhang), text="三", key="c"))
    assert env.fake.tokens_issued == 2


def test_a_send_retried_after_a_failure_is_delivered_once(env: FeishuEnv, db: Database) -> None:
    text = "\n".join(f"第{i}行 " + "数据" * 30 for i in range(600))  # several cards
    env.fake.fail_next("im/v1/messages", PASS, HTTP_500)  # the first card goes, the second fails
    send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text=text, key="retry"))
    assert rows(db)["retry:feishu"].status == "pending"
    drain(env, step=5)
    assert "\n".join(env.fake.texts("ou_zhang")) == text  # no card twice
    assert len(env.fake.calls_to("im/v1/messages", "dup")) == 1  # the repeat was Feishu's uuid dedupe


def test_a_rate_limit_is_waited_out_and_a_server_error_retried(env: FeishuEnv, db: Database) -> None:
    waits: list[float] = []
    env.port.sleep = waits.append
    env.fake.rate_reset = 2
    env.fake.fail_next("im/v1/messages", RATE, RATE)
    send(env, Outbound(to=ToPerson(person_id(db, "li")), text="稍后", key="rl"))
    assert waits == [2.0, 2.0] and env.fake.texts("ou_li") == ["稍后"]
    env.fake.rate_reset = 30  # too long to wait in a sender: the outbox waits
    env.fake.fail_next("im/v1/messages", RATE, HTTP_500)
    send(env, Outbound(to=ToPerson(person_id(db, "li")), text="再来", key="rl2"))
    row = rows(db)["rl2:feishu"]
    assert row.status == "pending" and (row.next_attempt_at - env.clock.now()).total_seconds() == 30
    drain(env, step=31)
    assert env.fake.texts("ou_li") == ["稍后", "再来"]


def test_the_monthly_quota_is_not_retried_but_reported(env: FeishuEnv, db: Database) -> None:
    from bot import metrics

    metrics.install(env.app)
    before = metrics.SENDS.labels(platform="feishu", outcome="quota")._value.get()
    env.fake.fail_next("im/v1/messages", QUOTA)
    send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="配额", key="q"))
    row = rows(db)["q:feishu"]
    assert row.status == "dead" and "99991403" in (row.last_error or "")
    drain(env, step=5)
    assert len(env.fake.calls_to("im/v1/messages", QUOTA)) == 1  # never tried again
    assert metrics.SENDS.labels(platform="feishu", outcome="quota")._value.get() == before + 1
    noted = kvstate.quota_exceeded(db, platform="feishu", now=env.clock.now())
    assert noted is not None and "99991403" in noted["error"]
    env.clock.advance(days=40)
    assert kvstate.quota_exceeded(db, platform="feishu", now=env.clock.now()) is None  # a new month


def test_a_recipient_the_app_cannot_reach_is_permanent(env: FeishuEnv, db: Database) -> None:
    env.fake.fail_next("im/v1/messages", BAD_RECIPIENT)
    send(env, Outbound(to=ToTarget("feishu", "user", "ou_gone"), text="x", key="gone"))
    row = rows(db)["gone:feishu"]
    assert row.status == "dead" and "230013" in (row.last_error or "")


def test_a_burst_to_one_person_is_paced_under_5_a_second(env: FeishuEnv, db: Database) -> None:
    import time

    sent_at: list[float] = []
    call = env.port.client.call

    def timed(method, path, **kwargs):  # type: ignore[no-untyped-def]
        sent_at.append(time.monotonic())
        return call(method, path, **kwargs)

    env.port.client.call = timed  # type: ignore[method-assign]
    zhang = person_id(db, "zhang")
    with env.app.db.unit_of_work() as s:
        enqueue(s, [Outbound(to=ToPerson(zhang), text=f"提醒 {i}", key=f"burst{i}") for i in range(16)],
                base_key="burst", settings=env.app.settings, now=env.clock.now())
    drain(env, step=5)
    assert env.fake.texts("ou_zhang") == [f"提醒 {i}" for i in range(16)]
    # What we send: never more than 5 calls in any second. (What the fake receives can bunch up when
    # the machine is loaded; a 429 then is waited out, as the fan-out test below shows.)
    assert max(sum(1 for u in sent_at[i:] if u - t < 1.0) for i, t in enumerate(sent_at)) <= 5
    assert sent_at[-1] - sent_at[0] >= 2.0  # 16 calls at 5 a second take at least 3 windows


def test_the_pacer_waits_for_the_oldest_call_to_leave_the_window() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    pacer = Pacer(5, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        pacer.wait("ou_a")
    pacer.wait("ou_b")  # another person has their own five
    assert slept == []
    pacer.wait("ou_a")
    assert slept == [Pacer.WINDOW]


def test_a_fan_out_under_injected_rate_limits_loses_nothing_and_repeats_nothing(env: FeishuEnv,
                                                                                db: Database) -> None:
    people = ["zhang", "li", "wang", "mgr_east", "mgr_south", "admin"]
    ids = [person_id(db, p) for p in people]
    env.fake.expire_every = 23
    for n in range(12):
        env.fake.fail_next("im/v1/messages", RATE if n % 3 else HTTP_500)
    with env.app.db.unit_of_work() as s:
        enqueue(s, [Outbound(to=ToPerson(ids[i % len(ids)]), text=f"早报 #{i}", key=f"fan{i}") for i in range(60)],
                base_key="fan", settings=env.app.settings, now=env.clock.now())
    drain(env, step=5)
    counts = Counter(t for m in env.fake.messages for t in [card_text(m.content)])
    assert len(counts) == 60 and set(counts.values()) == {1}
    assert all(r.status == "sent" for r in rows(db).values())
    assert env.fake.tokens_issued >= 2
