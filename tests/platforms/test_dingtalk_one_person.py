"""A person with ids on all four platforms is one person: a report sent from DingTalk counts once in the
evening post of the team's Slack channel (and of its other chats), and the bot answers only on the
platform they wrote from."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.platforms.feishu.port import FeishuPort
from bot.platforms.slack.port import SlackPort
from bot.platforms.wecom.port import WecomPort
from jobs.runner import run_job
from models import DailyReport, Identity, Person, TeamChat
from tests.support.fake_dingtalk import add_dingtalk_ids, dingtalk_env
from tests.support.fake_feishu import FakeFeishu, add_feishu_ids, card_text
from tests.support.fake_slack import running_fake_slack
from tests.support.fake_wecom import AES_KEY, AGENT_ID, CALLBACK_TOKEN, FakeWecom
from tests.support.feishu_events import ENCRYPT_KEY, VERIFICATION_TOKEN
from tests.support.org import build_org


def test_a_report_from_dingtalk_counts_once_on_every_platform_of_a_person_with_all_four(
        db: Database, clock: FixedClock, database_url: str) -> None:
    org = build_org(db)
    add_dingtalk_ids(db)
    add_feishu_ids(db, org)
    with db.unit_of_work() as s:
        s.add(TeamChat(team_id=org.ids["team:sh1"], platform="dingtalk", kind="chat", target="cidSH1=="))
    with db.unit_of_work() as s:
        zhang = s.scalar(select(Person.id).where(Person.code == "zhang"))
        assert {i.platform for i in s.scalars(select(Identity).where(Identity.person_id == zhang))} == {
            "slack", "wecom", "dingtalk", "feishu"}
    wecom = FakeWecom(clock=lambda: clock.now().timestamp())
    feishu = FakeFeishu()
    with running_fake_slack() as slack, wecom.running(), feishu.running(), dingtalk_env(
            db, clock, database_url,
            slack={"bot_token": "xoxb-test", "signing_secret": "slack-secret", "api_url": slack.url},
            wecom={"corp_id": wecom.corp_id, "agent_id": AGENT_ID, "secret": wecom.secret, "token": CALLBACK_TOKEN,
                   "encoding_aes_key": AES_KEY, "api_base_url": wecom.url},
            feishu={"app_id": feishu.app_id, "app_secret": feishu.app_secret, "mode": "http",
                    "verification_token": VERIFICATION_TOKEN, "encrypt_key": ENCRYPT_KEY,
                    "api_base_url": feishu.url}) as env:
        settings = env.app.settings
        assert sorted(settings.platforms) == ["dingtalk", "feishu", "slack", "wecom"]
        others = {"slack": SlackPort(settings), "wecom": WecomPort(settings, db=db, clock=clock),
                  "feishu": FeishuPort(settings, db=db, clock=clock)}
        env.app.outbox.ports.update(others)
        try:
            for msg_id in ("msgONE", "msgONE", "msgTWO"):  # a second delivery, then a corrected report
                env.say("dt_zhang", "日报\n拜访：7\n签约：8万", msg_id)
            with db.unit_of_work() as s:
                reports = list(s.scalars(select(DailyReport)))
                assert [(r.person_id, r.visits) for r in reports] == [(zhang, 7)]
            # The replies go back where the report came from (DingTalk), to none of the other three.
            assert len(env.fake.texts("dt_zhang")) == 2
            assert slack.ok_calls("chat.postMessage") == []
            assert [c for c in wecom.calls_to("message/send") if c.body.get("touser") == "zhangwei"] == []
            assert feishu.to("ou_zhang") == []

            summary = run_job(db=db, settings=settings, clock=env.app.clock, name="evening", team_codes=["sh1"],
                              at=datetime(2026, 11, 23, 10, 30, tzinfo=UTC), outbox=env.app.outbox)
            assert summary is not None
            env.drain()
            posts = [c for c in slack.ok_calls("chat.postMessage") if c.args.get("channel") == "C_SH1"]
            assert len(posts) == 1
            text = str(posts[0].args.get("text"))
            assert text.count("张伟") == 1 and "8万" in text
            assert "未交日报" in text and "张伟" not in text.split("未交日报")[-1]
            # The team's other chats get the same evening post, with 张伟 counted once in each.
            [on_feishu] = [card_text(m.content) for m in feishu.to("oc_sh1") if m.msg_type == "interactive"]
            [on_dingtalk] = env.fake.texts("cidSH1==")
            [on_wecom] = [str(c.body) for c in wecom.calls_to("appchat/send") if c.body.get("chatid") == "chat_sh1"]
            for post in (on_feishu, on_dingtalk, on_wecom):
                assert post.count("张伟") == 1 and "未交日报" in post
        finally:
            for port in others.values():
                close = getattr(port, "close", None)
                if close is not None:
                    close()
