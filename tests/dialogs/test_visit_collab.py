"""The cross-region flow end to end: a flagged visit, /collab, the managers' buttons, the grant."""

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.types import Action, Inbound, InboundKind
from bot.platforms.console import ConsolePort
from bot.wiring import App
from models import CollabRequest, Customer, Identity, ManagedRegion, OutboxMessage, Person, Visit
from tests.conftest import make_settings
from tests.support.org import Org, build_org

_events = itertools.count()


class Chat:
    """Drive the bot through App.dispatch and read back what it put in the outbox."""

    def __init__(self, settings: Settings, db: Database, clock: FixedClock, platform: str = "console") -> None:
        self.out = io.StringIO()
        self.db = db
        self.platform = platform
        self.app = App(settings, db=db, clock=clock, ports={"console": ConsolePort(self.out)}, migrate=False)

    def say(self, user: str, text: str) -> list[OutboxMessage]:
        kind = InboundKind.COMMAND if text.startswith("/") else InboundKind.MESSAGE
        return self._send(Inbound(self.platform, f"e{next(_events)}", user, kind, text=text))

    def press(self, user: str, action_id: str, value: str) -> list[OutboxMessage]:
        return self._send(Inbound(self.platform, f"e{next(_events)}", user, InboundKind.ACTION,
                                  action=Action(action_id, value)))

    def _send(self, inbound: Inbound) -> list[OutboxMessage]:
        result = self.app.dispatch(inbound, deliver=self.platform == "console")
        with self.db.unit_of_work() as s:
            rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.key.in_(result.keys))
                                  .order_by(OutboxMessage.id)))
            s.expunge_all()
        return rows


def texts(rows: list[OutboxMessage]) -> str:
    return "\n".join(str(r.payload.get("text", "")) for r in rows)


def buttons(row: OutboxMessage) -> list[tuple[str, str]]:
    return [(b["action_id"], b["value"]) for b in row.payload.get("buttons", [])]


def count(db: Database, model: Any, *where: Any) -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture()
def org(db: Database) -> Org:
    return build_org(db)


def test_whole_flow_on_console(settings: Settings, db: Database, clock: FixedClock, org: Org) -> None:
    chat = Chat(settings, db, clock)
    # zhang (Shanghai) visits Guangzhou's customer under a variant name: flagged, nothing changes.
    rows = chat.say("zhang", "/visit 远航集团有限公司 stage=negotiation next=+3d 聊了预算")
    assert "远航集团" in texts(rows) and "广州" in texts(rows) and "王芳" in texts(rows)
    assert "/协作 远航集团" in texts(rows)
    assert count(db, Customer) == 1
    with db.unit_of_work() as s:
        c = s.get(Customer, org.ids["cust:yuanhang"])
        assert c is not None and c.stage == "proposal" and c.owner_id == org.ids["user:wang"]
        assert c.next_follow_up is None and c.last_contact is None
        v = s.scalars(select(Visit)).one()
        assert v.without_permission and v.person_id == org.ids["user:zhang"] and v.region_id == org.ids["sh"]

    # The request goes to the South manager only, with both buttons.
    rows = chat.say("zhang", "/协作 远航集团 客户上海分公司约我们演示")
    request_id = count(db, CollabRequest) and _only_request(db)
    to_mgr = [r for r in rows if r.person_id == org.ids["user:mgr_south"]]
    assert len(to_mgr) == 1 and to_mgr[0].key == f"collab:{request_id}:to:{org.ids['user:mgr_south']}:console"
    assert buttons(to_mgr[0]) == [("collab_approve", str(request_id)), ("collab_reject", str(request_id))]
    assert "张伟" in to_mgr[0].payload["text"] and "客户上海分公司约我们演示" in to_mgr[0].payload["text"]
    assert "未授权" in to_mgr[0].payload["text"]  # the flagged visit shows in the recent visits
    assert not [r for r in rows if r.person_id == org.ids["user:mgr_east"]]
    assert "刘经理" in texts([r for r in rows if r.person_id == org.ids["user:zhang"]])

    # A second request while pending is not sent twice.
    rows = chat.say("zhang", "/collab 远航集团 again")
    assert count(db, CollabRequest) == 1
    assert [r.person_id for r in rows] == [org.ids["user:zhang"]] and "等待" in texts(rows)

    # The wrong people press: refused, nothing changes.
    for intruder in ("mgr_east", "li", "wang"):
        rows = chat.press(intruder, "collab_approve", str(request_id))
        assert [r.person_id for r in rows] == [org.ids["user:" + intruder]]
        assert "经理" in texts(rows)
    assert _status(db, request_id) == "pending"

    # The right manager approves: the card is updated without buttons, the requester is told.
    rows = chat.press("mgr_south", "collab_approve", str(request_id))
    update = [r for r in rows if r.update_of]
    assert len(update) == 1 and update[0].person_id == org.ids["user:mgr_south"]
    assert update[0].update_of == f"collab:{request_id}:to:{org.ids['user:mgr_south']}:console"
    assert "buttons" not in update[0].payload and "刘经理" in update[0].payload["text"]
    told = [r for r in rows if r.person_id == org.ids["user:zhang"]]
    assert len(told) == 1 and "批准" in told[0].payload["text"] and "2026-12-07" in told[0].payload["text"]
    assert _status(db, request_id) == "approved"

    # A late second press changes nothing.
    rows = chat.press("mgr_south", "collab_reject", str(request_id))
    assert _status(db, request_id) == "approved"
    assert "已由 刘经理" in texts(rows) and not [r for r in rows if r.update_of]

    # The next visit is ordinary: stage moves, owner stays.
    rows = chat.say("zhang", "/visit 远航集团 stage=negotiation")
    assert "⚠️" not in texts(rows) and "商务谈判" in texts(rows)
    with db.unit_of_work() as s:
        c = s.get(Customer, org.ids["cust:yuanhang"])
        assert c is not None and c.stage == "negotiation" and c.owner_id == org.ids["user:wang"]
        flags = sorted(v.without_permission for v in s.scalars(select(Visit)))
        assert flags == [False, True]
    assert count(db, Customer) == 1
    assert "[✅ 批准] !press collab_approve" in chat.out.getvalue()


def _only_request(db: Database) -> int:
    with db.unit_of_work() as s:
        return s.scalars(select(CollabRequest.id)).one()


def _status(db: Database, request_id: int) -> str:
    with db.unit_of_work() as s:
        return s.scalars(select(CollabRequest.status).where(CollabRequest.id == request_id)).one()


PLATFORMS: dict[str, Any] = {
    "slack": {"bot_token": "xoxb-test", "signing_secret": "test-secret"},
    "wecom": {"corp_id": "ww1", "agent_id": "1000002", "secret": "s", "token": "t", "encoding_aes_key": "a" * 43},
}


def test_flow_on_slack_and_wecom(database_url: str, db: Database, clock: FixedClock, org: Org) -> None:
    settings = make_settings(database_url, **PLATFORMS)
    with db.unit_of_work() as s:
        s.add(Customer(name="东方明珠科技", name_key="东方明珠科技", region_id=org.ids["sh"],
                       owner_id=org.ids["user:li"], tier="B", stage="needs"))
        second = Person(code="mgr_east2", name="周经理", role="manager", team_id=org.ids["team:sh1"])
        s.add(second)
        s.flush()
        s.add(ManagedRegion(person_id=second.id, region_id=org.ids["east"]))
        s.add(Identity(person_id=second.id, platform="slack", external_id="U_MEAST2"))
        east2 = second.id
    wecom = Chat(settings, db, clock, "wecom")
    slack = Chat(settings, db, clock, "slack")
    mgr_east = org.ids["user:mgr_east"]

    # wang (Guangzhou, WeCom) visits a Shanghai customer: the reply comes back on WeCom only.
    rows = wecom.say("wangfang", "/拜访 东方明珠科技有限公司 备注 路过")
    assert [(r.platform, r.person_id) for r in rows] == [("wecom", org.ids["user:wang"])]
    assert "/协作 东方明珠科技" in rows[0].payload["text"] and "上海" in rows[0].payload["text"]

    rows = wecom.say("wangfang", "/协作 东方明珠科技 客户广州工厂要扩产")
    request_id = _only_request(db)
    cards = sorted((r.person_id, r.platform, r.key) for r in rows if r.person_id != org.ids["user:wang"])
    assert cards == sorted([
        (mgr_east, "slack", f"collab:{request_id}:to:{mgr_east}:slack:user"),
        (mgr_east, "wecom", f"collab:{request_id}:to:{mgr_east}:wecom:user"),
        (east2, "slack", f"collab:{request_id}:to:{east2}:slack"),
    ])
    for r in rows:
        if r.person_id != org.ids["user:wang"]:
            assert buttons(r) == [("collab_approve", str(request_id)), ("collab_reject", str(request_id))]
            assert "王芳" in r.payload["text"]

    # A manager of another region presses on Slack: refused, on Slack, nothing changes.
    rows = slack.press("U_MNORTH", "collab_approve", str(request_id))
    assert [(r.platform, r.person_id) for r in rows] == [("slack", org.ids["user:mgr_north"])]
    assert "manager of the region" in rows[0].payload["text"]
    assert _status(db, request_id) == "pending"

    # mgr_east approves on Slack: every card of every manager is updated, the requester told on WeCom.
    rows = slack.press("U_MEAST", "collab_approve", str(request_id))
    updates = sorted((r.person_id, r.platform, r.update_of) for r in rows if r.update_of)
    assert updates == sorted([
        (mgr_east, "slack", f"collab:{request_id}:to:{mgr_east}:slack:user"),
        (mgr_east, "wecom", f"collab:{request_id}:to:{mgr_east}:wecom:user"),
        (east2, "slack", f"collab:{request_id}:to:{east2}:slack"),
    ])
    assert all("buttons" not in r.payload and "陈经理" in r.payload["text"] for r in rows if r.update_of)
    told = [r for r in rows if r.person_id == org.ids["user:wang"]]
    assert [r.platform for r in told] == ["wecom"] and "批准" in told[0].payload["text"]

    # The other manager's late press on Slack changes nothing and says who decided.
    rows = slack.press("U_MEAST2", "collab_reject", str(request_id))
    assert _status(db, request_id) == "approved"
    assert len(rows) == 1 and "陈经理" in rows[0].payload["text"] and not rows[0].update_of

    # Now wang's visit is ordinary; the owner is unchanged.
    rows = wecom.say("wangfang", "/拜访 东方明珠科技 阶段=方案设计 下次=明天")
    assert "⚠️" not in rows[0].payload["text"] and "方案设计" in rows[0].payload["text"]
    with db.unit_of_work() as s:
        c = s.scalars(select(Customer).where(Customer.name == "东方明珠科技")).one()
        assert c.owner_id == org.ids["user:li"] and c.stage == "proposal"


def test_collab_for_own_or_unknown_customer(settings: Settings, db: Database, clock: FixedClock, org: Org) -> None:
    chat = Chat(settings, db, clock)
    rows = chat.say("wang", "/collab 远航集团 just checking")
    assert "不需要申请" in texts(rows) and count(db, CollabRequest) == 0
    rows = chat.say("wang", "/协作 远行集团 原因")
    assert "找不到" in texts(rows) and "远航集团" in texts(rows)
    rows = chat.say("wang", "/协作")
    assert "用法" in texts(rows)
    rows = chat.press("mgr_south", "collab_approve", "9999")
    assert count(db, CollabRequest) == 0 and len(rows) == 1


def test_visit_creates_lead_and_reports_bad_args(settings: Settings, db: Database, clock: FixedClock,
                                                 org: Org) -> None:
    chat = Chat(settings, db, clock)
    rows = chat.say("zhang", '/visit "ACME Co., Ltd." stage=needs next=2026-11-30 first meeting')
    assert "ACME" in texts(rows) and "🆕" in texts(rows)
    rows = chat.say("zhang", "/visit acme inc")  # same customer, a variant name
    assert "🆕" not in texts(rows)
    with db.unit_of_work() as s:
        acme = s.scalars(select(Customer).where(Customer.name_key == "acme")).one()
        assert acme.owner_id == org.ids["user:zhang"] and acme.region_id == org.ids["sh"]
        assert acme.stage == "needs" and acme.next_follow_up is not None
        acme_id = acme.id
    assert count(db, Visit, Visit.customer_id == acme_id) == 2
    before = count(db, Visit)
    rows = chat.say("zhang", "/visit ACME stage=signing")
    assert "`signing` is not a stage" not in texts(rows)  # zhang reads Chinese
    assert "不是一个阶段" in texts(rows) and "negotiation" in texts(rows)
    rows = chat.say("bob", "/visit Initech next=2020-01-01")
    assert "in the past" in texts(rows)
    rows = chat.say("bob", "/visit")
    assert "name the customer" in texts(rows)
    assert count(db, Visit) == before
    assert count(db, Customer, Customer.name == "Initech") == 0


def test_signing_schedules_the_revisit(settings: Settings, db: Database, clock: FixedClock, org: Org) -> None:
    chat = Chat(settings, db, clock)
    rows = chat.say("wang", "/拜访 远航集团 阶段=签约 合同已签")
    assert "🎉" in texts(rows)
    with db.unit_of_work() as s:
        c = s.get(Customer, org.ids["cust:yuanhang"])
        assert c is not None and c.signed_on == c.last_contact and c.stage == "signed"
        from models import FollowUp

        live = s.scalars(select(FollowUp).where(FollowUp.open_key == c.id)).one()
        assert live.kind == "post_sign" and live.owner_id == org.ids["user:wang"]
        # Tier A: within 7 calendar days even though 7 workdays would be later.
        assert (live.due - c.signed_on).days == 7
