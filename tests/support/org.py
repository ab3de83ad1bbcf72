"""A small organisation for tests, built through the models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.core.db import Database
from models import TEAM_CHAT_COLUMNS, Customer, Goal, Identity, ManagedRegion, Person, Region, Team


@dataclass
class Org:
    ids: dict[str, int]


def build_org(db: Database) -> Org:
    """East (Shanghai, Hangzhou), South (Guangzhou), North (English team); reps, managers, an admin."""
    ids: dict[str, int] = {}
    with db.unit_of_work() as s:
        def region(code: str, name: str, parent: str | None = None) -> Region:
            r = Region(code=code, name=name, parent_id=ids.get(parent) if parent else None)
            s.add(r)
            s.flush()
            ids[code] = r.id
            return r

        region("east", "华东")
        region("sh", "上海", "east")
        region("hz", "杭州", "east")
        region("south", "华南")
        region("gz", "广州", "south")
        region("north", "North")

        def team(code: str, name: str, region_code: str, *, timezone: str | None = None, locale: str | None = None,
                 **chats: str) -> Team:
            t = Team(code=code, name=name, region_id=ids[region_code], timezone=timezone, locale=locale)
            for column, target in chats.items():  # teams.csv's chat columns: slack_channel=..., wecom_chat=...
                t.set_chats(*TEAM_CHAT_COLUMNS[column], target)
            s.add(t)
            s.flush()
            ids["team:" + code] = t.id
            return t

        team("sh1", "上海一组", "sh", slack_channel="C_SH1", wecom_chat="chat_sh1")
        team("gz1", "广州一组", "gz", wecom_webhook="http://127.0.0.1:1/robot?key=gz1")
        team("n1", "North Team", "north", timezone="America/New_York", locale="en", slack_channel="C_N1")

        def person(code: str, name: str, role: str, team_code: str | None, manages: tuple[str, ...] = (),
                   slack: str | None = None, wecom: str | None = None) -> Person:
            p = Person(code=code, name=name, role=role, team_id=ids["team:" + team_code] if team_code else None)
            s.add(p)
            s.flush()
            for rc in manages:
                s.add(ManagedRegion(person_id=p.id, region_id=ids[rc]))
            if slack:
                s.add(Identity(person_id=p.id, platform="slack", external_id=slack))
            if wecom:
                s.add(Identity(person_id=p.id, platform="wecom", external_id=wecom))
            ids["user:" + code] = p.id
            return p

        person("zhang", "张伟", "rep", "sh1", slack="U_ZHANG", wecom="zhangwei")
        person("li", "李娜", "rep", "sh1", slack="U_LI", wecom="lina")
        person("wang", "王芳", "rep", "gz1", wecom="wangfang")
        person("bob", "Bob Smith", "rep", "n1", slack="U_BOB")
        person("mgr_east", "陈经理", "manager", "sh1", manages=("east",), slack="U_MEAST", wecom="chenjl")
        person("mgr_south", "刘经理", "manager", "gz1", manages=("south",), wecom="liujl")
        person("mgr_north", "Nora North", "manager", "n1", manages=("north",), slack="U_MNORTH")
        person("admin", "管理员", "admin", None, slack="U_ADMIN", wecom="admin")

        c = Customer(name="远航集团", name_key="远航集团", region_id=ids["gz"], owner_id=ids["user:wang"], tier="A",
                     stage="proposal", stage_changed_at=datetime(2026, 11, 1, tzinfo=UTC))
        s.add(c)
        s.flush()
        ids["cust:yuanhang"] = c.id
        s.add(Goal(scope="user", code="zhang", period="2026-11", metric="signed_amount",
                   target=Decimal("500000"), floor=Decimal("300000"), stretch=Decimal("800000")))
    return Org(ids)
