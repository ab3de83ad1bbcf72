"""Sending through the WeCom API: cards, updates, splitting, token refresh, retries, pacing, fan-out."""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.outbox import enqueue
from bot.core.types import Button, Outbound, ToPerson, ToTarget, ToTeam
from bot.platforms.wecom.port import MARKDOWN_LIMIT, split_utf8
from models import KeyValue, OutboxMessage, Team
from tests.support.fake_wecom import HTTP_500, WecomEnv, wecom_env
from tests.support.org import build_org
from tests.support.sending import drain, person_id, rows, send

TASK_ID = re.compile(r"^[0-9A-Za-z_\-@]{1,128}$")


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[WecomEnv]:
    build_org(db)
    with wecom_env(db, clock, database_url) as e:
        yield e


def test_split_never_passes_the_limit_nor_breaks_a_character() -> None:
    text = "\n".join(f"- 第{i}行：远航集团 跟进 ✅ {'长' * (i % 50)}" for i in range(400)) + "\n" + "汉" * 3000
    parts = split_utf8(text, MARKDOWN_LIMIT)
    assert len(parts) > 3
    assert all(len(p.encode()) <= MARKDOWN_LIMIT for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    assert split_utf8("short", MARKDOWN_LIMIT) == ["short"]


def test_long_markdown_goes_as_several_messages_under_2048_bytes(env: WecomEnv, db: Database) -> None:
    text = "\n".join(f"- {i:03d} 远航集团 拜访纪要，下一步：方案演示" for i in range(300))
    send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text=text, title="周报"))
    parts = [c.body["markdown"]["content"] for c in env.fake.delivered]
    assert len(parts) >= 3 and all(len(p.encode()) <= 2048 for p in parts)
    assert parts[0].startswith("**周报**")
    assert "\n".join(parts).count("远航集团") == 300
    assert all(r.status == "sent" for r in rows(db).values())


def test_a_card_with_buttons_has_valid_keys_and_task_ids(env: WecomEnv, db: Database) -> None:
    buttons = tuple(Button(f"完成{i}", "nudge_done", str(i)) for i in range(8))
    keys = send(env, Outbound(to=ToPerson(person_id(db, "zhang")), title="今日跟进", text="远航集团 逾期 2 天",
                              buttons=buttons, key="nudges:2026-11-23:zhang"))
    cards = [c.body["template_card"] for c in env.fake.delivered]
    assert [c["card_type"] for c in cards] == ["button_interaction"] * 2
    assert [len(c["button_list"]) for c in cards] == [6, 2]
    assert [b["key"] for c in cards for b in c["button_list"]] == [f"nudge_done:{i}" for i in range(8)]
    task_ids = [c["task_id"] for c in cards]
    assert len(set(task_ids)) == 2 and all(TASK_ID.match(t) for t in task_ids)
    assert cards[0]["main_title"]["title"].startswith("今日跟进") and cards[0]["sub_title_text"] == "远航集团 逾期 2 天"
    row = rows(db)[keys[0]]
    assert row.ref_id == task_ids[0] and row.response_code  # the send's own response_code


def test_an_update_uses_update_template_card_once_then_sends_anew(env: WecomEnv, db: Database) -> None:
    mgr = person_id(db, "mgr_south")
    [card_key] = send(env, Outbound(to=ToPerson(mgr), title="协作申请", text="张伟 申请联系 远航集团",
                                    buttons=(Button("同意", "collab_approve", "5"),
                                             Button("拒绝", "collab_reject", "5")), key="collab:5"))
    code = env.fake.issue_response_code()
    with db.unit_of_work() as s:  # as the click callback stores it
        from bot.platforms.wecom.port import remember_response_code

        assert remember_response_code(s, task_id=rows(db)[card_key].ref_id or "", response_code=code,
                                      now=env.clock.now())
    send(env, Outbound(to=ToPerson(mgr), title="已同意", text="刘经理 于 11-23 10:00 同意", key="collab:5:d1",
                       update_of="collab:5"))
    updates = env.fake.calls_to("message/update_template_card")
    assert len(updates) == 1 and updates[0].outcome == 0
    assert updates[0].body["response_code"] == code and updates[0].body["userids"] == ["liujl"]
    assert "button_list" not in updates[0].body["template_card"]
    assert rows(db)[card_key].response_code == "used:" + code
    # The code is spent: a second update is a new message.
    send(env, Outbound(to=ToPerson(mgr), title="已撤销", text="刘经理 撤销", key="collab:5:d2", update_of="collab:5"))
    assert len(env.fake.calls_to("message/update_template_card")) == 1
    assert env.fake.calls_to("message/send")[-1].body["markdown"]["content"].startswith("**已撤销**")


def test_an_update_after_72_hours_sends_a_new_message(env: WecomEnv, db: Database) -> None:
    mgr = person_id(db, "mgr_south")
    [card_key] = send(env, Outbound(to=ToPerson(mgr), text="协作申请", key="collab:6",
                                    buttons=(Button("同意", "collab_approve", "6"),)))
    assert rows(db)[card_key].response_code  # from the send itself
    env.clock.advance(hours=72, seconds=1)
    send(env, Outbound(to=ToPerson(mgr), text="已过期", key="collab:6:d", update_of="collab:6"))
    assert env.fake.calls_to("message/update_template_card") == []
    assert env.fake.calls_to("message/send")[-1].body["markdown"]["content"] == "已过期"


def test_a_refused_update_falls_back_to_a_new_message(env: WecomEnv, db: Database) -> None:
    mgr = person_id(db, "mgr_south")
    [card_key] = send(env, Outbound(to=ToPerson(mgr), text="协作申请", key="collab:7",
                                    buttons=(Button("同意", "collab_approve", "7"),)))
    with db.unit_of_work() as s:  # a code WeCom does not know (spent elsewhere)
        s.get(OutboxMessage, rows(db)[card_key].id).response_code = "UNKNOWN-CODE"  # type: ignore[union-attr]
    send(env, Outbound(to=ToPerson(mgr), text="已同意", key="collab:7:d", update_of="collab:7"))
    assert [c.outcome for c in env.fake.calls_to("message/update_template_card")] == [40058]
    assert env.fake.delivered[-1].body["markdown"]["content"] == "已同意"


def test_an_expired_token_is_refreshed_once_and_nothing_is_lost(env: WecomEnv, db: Database) -> None:
    zhang = person_id(db, "zhang")
    send(env, Outbound(to=ToPerson(zhang), text="第一条", key="a1"))
    env.fake.expire_token()
    send(env, *[Outbound(to=ToPerson(zhang), text=f"消息 {i}", key=f"b{i}") for i in range(5)])
    assert len(env.fake.calls_to("gettoken")) == 2
    assert [c.outcome for c in env.fake.calls_to("message/send")].count(42001) == 1
    assert sorted(c.body["markdown"]["content"] for c in env.fake.delivered) == sorted(
        ["第一条"] + [f"消息 {i}" for i in range(5)])
    with db.unit_of_work() as s:
        kv = s.scalar(select(KeyValue).where(KeyValue.key.like("wecom_token:%")))
        assert kv is not None and kv.value == "TOKEN2"  # shared with other processes


def test_a_token_stored_by_another_process_is_reused(env: WecomEnv, db: Database) -> None:
    send(env, Outbound(to=ToPerson(person_id(db, "li")), text="一", key="c1"))
    env.port.client.forget_token()  # a fresh process: nothing cached in memory
    send(env, Outbound(to=ToPerson(person_id(db, "li")), text="二", key="c2"))
    assert len(env.fake.calls_to("gettoken")) == 1
    assert len(env.fake.delivered) == 2


@pytest.mark.parametrize("errcode", [45009, -1, HTTP_500])
def test_rate_limit_busy_and_server_errors_are_retried(env: WecomEnv, db: Database, errcode: int) -> None:
    env.fake.fail_next("message/send", errcode)
    [key] = send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="重试我", key="r1"))
    row = rows(db)[key]
    # A rate limit is waited out without using up one of outbox.max_attempts; other failures use one.
    assert row.status == "pending" and row.attempts == (0 if errcode == 45009 else 1)
    wait = (row.next_attempt_at - env.clock.now()).total_seconds()
    if errcode == 45009:
        assert 59 <= wait <= 61
    env.clock.advance(seconds=61)
    env.app.outbox.deliver()
    assert rows(db)[key].status == "sent"
    assert [c.body["markdown"]["content"] for c in env.fake.delivered] == ["重试我"]


def test_a_recipient_error_is_permanent(env: WecomEnv, db: Database) -> None:
    env.fake.fail_next("message/send", 60111)
    [key] = send(env, Outbound(to=ToTarget("wecom", "user", "left_the_company"), text="hi", key="p1"))
    row = rows(db)[key]
    assert row.status == "dead" and "60111" in (row.last_error or "")


def test_a_partly_sent_message_resumes_without_resending_parts(env: WecomEnv, db: Database) -> None:
    text = "\n".join(f"{i:04d} " + "字" * 100 for i in range(22))  # about 6.7 KB: 4 parts of at most 2 KB
    assert len(split_utf8(text, MARKDOWN_LIMIT)) == 4
    env.fake.fail_next("message/send", 0, 0, -1)  # parts 1 and 2 go, part 3 fails
    [key] = send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text=text, key="long1"))
    assert rows(db)[key].status == "pending"
    env.clock.advance(seconds=120)
    env.app.outbox.deliver()
    assert rows(db)[key].status == "sent"
    got = [c.body["markdown"]["content"] for c in env.fake.calls_to("message/send") if c.outcome == 0]
    # The two scripted zeros were logged without delivery; count what reached the member.
    delivered = [c.body["markdown"]["content"] for c in env.fake.delivered]
    assert len(delivered) == 2 and len(got) == 4
    assert "\n".join(got) == text


def test_team_posts_go_to_the_app_chat_and_the_robot_with_images(env: WecomEnv, db: Database) -> None:
    with db.unit_of_work() as s:
        gz1 = s.scalar(select(Team).where(Team.code == "gz1"))
        assert gz1 is not None
        gz1.set_chats("wecom", "webhook", env.fake.webhook_url("robot-gz1"))
        sh1 = s.scalar(select(Team.id).where(Team.code == "sh1"))
        gz1_id = gz1.id
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    send(env, Outbound(to=ToTeam(sh1), text="**晚间排行**\n1. 张伟", image=png),
         Outbound(to=ToTeam(gz1_id), text="**晚间排行**\n1. 王芳", image=png))
    chat = env.fake.calls_to("appchat/send")
    assert [c.body["msgtype"] for c in chat] == ["markdown", "image"]
    assert chat[0].body["chatid"] == "chat_sh1" and chat[1].body["image"]["media_id"].startswith("MEDIA")
    assert len(env.fake.calls_to("media/upload")) == 1
    robot = env.fake.calls_to("webhook/send")
    assert [c.body["msgtype"] for c in robot] == ["markdown", "image"]
    assert robot[0].query == {"key": "robot-gz1"} and "access_token" not in robot[0].query
    assert base64.b64decode(robot[1].body["image"]["base64"]) == png
    assert all(r.status == "sent" for r in rows(db).values())


def test_a_burst_of_40_to_one_member_is_paced_under_30_a_minute(env: WecomEnv, db: Database) -> None:
    zhang = person_id(db, "zhang")
    with env.app.db.unit_of_work() as s:
        enqueue(s, [Outbound(to=ToPerson(zhang), text=f"提醒 {i}", key=f"burst{i}") for i in range(40)],
                base_key="burst", settings=env.app.settings, now=env.clock.now())
    drain(env, step=20)
    assert env.fake.dropped == []
    assert len(env.fake.delivered) == 40
    assert env.fake.max_in_window("zhangwei") <= 30


def test_a_fan_out_of_200_with_failures_and_an_expiring_token_delivers_each_once(
        env: WecomEnv, db: Database) -> None:
    members = ["zhang", "li", "wang", "mgr_east", "mgr_south", "admin"]
    ids = [person_id(db, m) for m in members]
    env.fake.chaos_rate = 0.15
    env.fake.expire_every = 37
    with env.app.db.unit_of_work() as s:
        enqueue(s, [Outbound(to=ToPerson(ids[i % len(ids)]), text=f"早报 #{i}", key=f"fan{i}") for i in range(200)],
                base_key="fan", settings=env.app.settings, now=env.clock.now())
    drain(env, step=65, rounds=80)
    counts = Counter(c.body["markdown"]["content"] for c in env.fake.delivered)
    assert len(counts) == 200 and set(counts.values()) == {1}
    assert env.fake.dropped == []
    assert len(env.fake.calls_to("gettoken")) >= 3
    failures = [c for c in env.fake.calls if c.outcome not in (0, 42001)]
    assert len(failures) >= 15  # the chaos really happened
    assert all(r.status == "sent" for r in rows(db).values())
    for member in ("zhangwei", "lina", "wangfang", "chenjl", "liujl", "admin"):
        assert env.fake.max_in_window(member) <= 30


def test_no_secret_token_or_robot_key_reaches_the_logs(env: WecomEnv, db: Database,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    with db.unit_of_work() as s:
        gz1 = s.scalar(select(Team).where(Team.code == "gz1"))
        assert gz1 is not None
        gz1.set_chats("wecom", "webhook", env.fake.webhook_url("robot-secret-key"))
        gz1_id = gz1.id
    env.fake.fail_next("message/send", 42001, 45009)
    env.fake.fail_next("webhook/send", HTTP_500)
    send(env, Outbound(to=ToPerson(person_id(db, "zhang")), text="hi", key="log1"),
         Outbound(to=ToTeam(gz1_id), text="team", key="log2"))
    text = caplog.text + " ".join(r.last_error or "" for r in rows(db).values())
    assert "HTTP Request" in caplog.text  # httpx did log the requests...
    for secret in (env.fake.secret, "TOKEN1", "TOKEN2", "robot-secret-key"):
        assert secret not in text  # ...with the secrets hidden
