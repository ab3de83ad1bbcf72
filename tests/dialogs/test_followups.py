"""/followups and the nudge_done / nudge_snooze buttons: only the owner may press them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from models import Customer, FollowUp, Holiday
from tests.conftest import make_settings
from tests.dialogs.test_visit_collab import PLATFORMS, Chat, buttons, texts
from tests.support.org import Org, build_org


def _overdue(db: Database, org: Org) -> None:
    with db.unit_of_work() as s:
        c = s.get(Customer, org.ids["cust:yuanhang"])
        assert c is not None
        c.last_contact = date(2026, 11, 13)  # A: due Friday 11-20
        c.created_at = datetime(2026, 10, 1, tzinfo=UTC)
        s.add(Customer(name="华南电气", name_key="华南电气", region_id=org.ids["gz"], owner_id=org.ids["user:wang"],
                       tier="C", stage="lead", created_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
        s.add(Holiday(day=date(2026, 11, 24), kind="holiday", name="公司活动日"))


def _live(db: Database) -> list[tuple[str, str, date]]:
    with db.unit_of_work() as s:
        rows = s.execute(select(Customer.name, FollowUp.status, FollowUp.due)
                         .join(Customer, FollowUp.customer_id == Customer.id)
                         .where(FollowUp.open_key.is_not(None)).order_by(Customer.name)).all()
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_followups_list_done_and_snooze(settings: Settings, db: Database, clock: FixedClock) -> None:
    org = build_org(db)
    _overdue(db, org)
    chat = Chat(settings, db, clock)
    rows = chat.say("wang", "/跟进")
    text = texts(rows)
    assert "2 条待跟进" in text and "远航集团" in text and "已逾期 1 个工作日" in text
    assert "华南电气" in text and "新线索首次联系" in text and "今天到期" in text
    ids = _ids(db)
    assert buttons(rows[0]) == [("nudge_done", str(ids["远航集团"])), ("nudge_snooze", str(ids["远航集团"])),
                                ("nudge_done", str(ids["华南电气"])), ("nudge_snooze", str(ids["华南电气"]))]

    # Someone else's press is refused and changes nothing.
    before = _live(db)
    text = texts(chat.press("zhang", "nudge_done", str(ids["远航集团"])))
    assert "负责人" in text and _live(db) == before
    text = texts(chat.press("mgr_south", "nudge_snooze", str(ids["远航集团"])))
    assert "负责人" in text and _live(db) == before

    # Snooze skips Tuesday's company holiday.
    text = texts(chat.press("wang", "nudge_snooze", str(ids["华南电气"])))
    assert "2026-11-25" in text
    # Done: last contact today, the next one follows the tier.
    text = texts(chat.press("wang", "nudge_done", str(ids["远航集团"])))
    assert "2026-11-23" in text and "2026-11-30" in text
    assert _live(db) == [("华南电气", "snoozed", date(2026, 11, 25)), ("远航集团", "open", date(2026, 11, 30))]
    text = texts(chat.press("wang", "nudge_done", str(ids["远航集团"])))
    assert "已经完成" in text
    assert "没有到期" in texts(chat.say("wang", "/followups"))
    assert "not found" in texts(chat.press("bob", "nudge_done", "99999"))


def _ids(db: Database) -> dict[str, int]:
    with db.unit_of_work() as s:
        return {n: i for n, i in s.execute(select(Customer.name, FollowUp.id)
                                           .join(Customer, FollowUp.customer_id == Customer.id))}


def test_followups_on_wecom(database_url: str, db: Database, clock: FixedClock) -> None:
    org = build_org(db)
    _overdue(db, org)
    chat = Chat(make_settings(database_url, **PLATFORMS), db, clock, "wecom")
    rows = chat.say("wangfang", "/followups")
    assert [(r.platform, r.person_id) for r in rows] == [("wecom", org.ids["user:wang"])]
    assert {b["action_id"] for b in rows[0].payload["buttons"]} == {"nudge_done", "nudge_snooze"}
    assert all(b["label"] for b in rows[0].payload["buttons"])
    fid = _ids(db)["远航集团"]
    rows = chat.press("wangfang", "nudge_done", str(fid))
    assert rows[0].platform == "wecom" and "已完成" in rows[0].payload["text"]
