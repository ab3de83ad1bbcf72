"""A person with ids on several platforms is one person: a report sent from DingTalk counts once in the
leaderboard posted to the team's Slack channel, and the bot answers on the platform they wrote from."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.platforms.slack.port import SlackPort
from jobs.runner import run_job
from models import Identity, Person
from tests.support.fake_dingtalk import add_dingtalk_ids, dingtalk_env
from tests.support.fake_slack import running_fake_slack
from tests.support.org import build_org


def test_a_report_from_dingtalk_counts_once_in_the_slack_leaderboard(db: Database, clock: FixedClock,
                                                                       database_url: str) -> None:
    build_org(db)
    add_dingtalk_ids(db)
    with db.unit_of_work() as s:
        zhang = s.scalar(select(Person.id).where(Person.code == "zhang"))
        assert {i.platform for i in s.scalars(select(Identity).where(Identity.person_id == zhang))} == {
            "slack", "wecom", "dingtalk"}
    with running_fake_slack() as slack, dingtalk_env(db, clock, database_url, slack={
            "bot_token": "xoxb-test", "signing_secret": "slack-secret", "api_url": slack.url}) as env:
        env.app.outbox.ports["slack"] = SlackPort(env.app.settings)
        for msg_id in ("msgONE", "msgONE", "msgTWO"):  # a second delivery, then a corrected report
            env.say("dt_zhang", "日报\n拜访：7\n签约：8万", msg_id)
        # The reply goes back where the report came from (DingTalk), not to Slack too.
        assert len(env.fake.texts("dt_zhang")) == 2
        assert slack.ok_calls("chat.postMessage") == []
        summary = run_job(db=db, settings=env.app.settings, clock=env.app.clock, name="evening",
                          team_codes=["sh1"], at=datetime(2026, 11, 23, 10, 30, tzinfo=UTC), outbox=env.app.outbox)
        assert summary is not None
        posts = [c for c in slack.ok_calls("chat.postMessage") if c.args.get("channel") == "C_SH1"]
        assert len(posts) == 1
        text = str(posts[0].args.get("text"))
        assert text.count("张伟") == 1 and "8万" in text
        assert "未交日报" in text and "张伟" not in text.split("未交日报")[-1]
