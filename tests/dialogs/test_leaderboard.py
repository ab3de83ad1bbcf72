"""/leaderboard through dispatch: ranking by metric and period, who has not reported, bad arguments."""

from __future__ import annotations

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from tests.support.chat import Chat
from tests.support.org import build_org


def test_leaderboard_ranks_the_team(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    chat.say("zhang", "日报 11-20\n拜访：5\n签约：10万")
    chat.say("li", "日报 11-20\n拜访：1\n签约：30万")
    chat.say("zhang", "日报\n拜访：2\n签约：15万")
    chat.say("mgr_east", "日报 11-20\n拜访：1\n签约：8万")  # the manager sells too, with no goal of their own
    out = chat.say("zhang", "/排行 本月")
    assert "上海一组 · 本月排行 · 签约" in out and "2026-11-01 ~ 2026-11-23" in out
    assert out.index("1. 李娜 30万") < out.index("2. 张伟 25万")
    assert "陈经理" not in out  # the team's manager has no personal goal: not a seller
    assert "团队合计 63万" in out  # every report filed in the team counts, as in the team's goal
    assert "今天还没交日报：李娜" in out
    out = chat.say("zhang", "/排行 拜访 本周")  # Monday: the week so far is today
    assert "本周排行 · 拜访" in out and "1. 张伟 2" in out and "2. 李娜 0\n" in out and "今天还没交日报：李娜" in out
    out = chat.say("li", "/排行")  # today, the team's main metric
    assert "今日排行 · 签约" in out and "1. 张伟 15万" in out and "2. 李娜 0\n" in out and "今天还没交日报：李娜" in out


def test_leaderboard_in_english_and_bad_arguments(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    chat.say("bob", "daily report\nvisits: 3\nsigned: 12k")
    out = chat.say("bob", "/leaderboard today visits")
    assert "North Team · today · visits" in out and "1. Bob Smith 3" in out and "Team total 3" in out
    assert "Nora North" not in out and "Everyone has reported today" in out  # Nora manages, has no goal
    assert 'no metric "profit"' in chat.say("bob", "/leaderboard week profit")
    assert "text field" in chat.say("bob", "/leaderboard plan")
    assert "Usage" in chat.say("bob", "/leaderboard today week")
    assert "不属于任何团队" in chat.say("admin", "/排行")
