"""/customer: the card with owner, stage, group and visits from every region; unknown names get suggestions."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from models import CollabRequest, Customer, Visit
from tests.dialogs.test_visit_collab import Chat, texts
from tests.support.org import build_org


def test_card_shows_group_and_visits(settings: Settings, db: Database, clock: FixedClock) -> None:
    org = build_org(db)
    with db.unit_of_work() as s:
        s.add(Customer(name="远航物流", name_key="远航物流", region_id=org.ids["gz"], owner_id=org.ids["user:wang"],
                       tier="B", stage="needs", parent_id=org.ids["cust:yuanhang"], industry="物流"))
        s.add(Visit(customer_id=org.ids["cust:yuanhang"], person_id=org.ids["user:wang"], region_id=org.ids["gz"],
                    day=date(2026, 11, 20), stage="proposal", note="演示"))
        s.add(Visit(customer_id=org.ids["cust:yuanhang"], person_id=org.ids["user:zhang"], region_id=org.ids["sh"],
                    day=date(2026, 11, 21), without_permission=True))
        s.add(CollabRequest(customer_id=org.ids["cust:yuanhang"], requester_id=org.ids["user:li"],
                            owner_region_id=org.ids["gz"], status="approved", decided_by_id=org.ids["user:mgr_south"],
                            expires_at=datetime(2026, 11, 1, tzinfo=UTC)))
    chat = Chat(settings, db, clock)
    text = texts(chat.say("zhang", "/客户 远航集团有限公司"))
    assert "**远航集团**" in text and "广州" in text and "王芳" in text and "方案设计" in text
    assert "远航物流" in text  # a member of the group
    assert "2026-11-21 张伟（上海）" in text and "⚠️未授权" in text
    assert "2026-11-20 王芳（广州）方案设计：演示" in text
    assert "/协作 远航集团" in text  # zhang may read, not change
    assert "李娜：已过期（刘经理）" in text  # an approved grant past its expiry shows as expired

    text = texts(chat.say("wang", "/customer 远航物流"))
    assert "所属集团：远航集团" in text and "物流" in text and "/协作" not in text

    text = texts(chat.say("bob", "/customer 远航物流"))
    assert "Stage: needs" in text and "Group: 远航集团" in text and "- no visits yet" in text


def test_unknown_customer_suggests_close_names(settings: Settings, db: Database, clock: FixedClock) -> None:
    build_org(db)
    chat = Chat(settings, db, clock)
    text = texts(chat.say("bob", "/customer 远航"))
    assert "No customer named **远航**" in text and "远航集团" in text
    assert "Usage" in texts(chat.say("bob", "/customer"))
