"""Table-driven tests of customer name matching (the 撞单 guard) and group families."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bot.core.db import Database
from models import CollabRequest, Customer, Visit
from services.customers import (
    close_names,
    conflict_count,
    family_ids,
    find_customer,
    has_grant,
    managers_of_region,
    normalize_name,
)
from tests.support.org import Org, build_org

SAME = [
    ("远航集团有限公司", "远航集团"),
    ("远航集团股份有限公司", "远航集团"),
    ("远航集团有限责任公司", "远航集团"),
    ("远航集团公司", "远航集团"),
    ("远航 集团", "远航集团"),
    ("远航集团（有限公司）", "远航集团"),
    ("ＡＣＭＥ　Ｃｏ．，Ｌｔｄ．", "acme"),
    ("ACME Co., Ltd.", "Acme Inc"),
    ("Acme Inc.", "acme llc"),
    ("Acme Corp.", "ACME LIMITED"),
    ("Acme Corporation", "acme"),
    ("acme-co", "ACME"),
    ("  Globex  ", "globex"),
    ("Globex, Inc", "GLOBEX"),
    ("华为技术有限公司", "华为技术"),
    ("深圳市腾讯计算机系统有限公司", "深圳市腾讯计算机系统"),
]

DIFFERENT = [
    ("远航科技", "远航集团"),
    ("远航集团", "远航"),
    ("远航科技有限公司", "远航集团有限公司"),
    ("Acme Group", "Acme"),
    ("Acme Tech", "Acme"),
    ("Acme", "Acne"),
    ("东方明珠", "东方明珠科技"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_same_customer(a: str, b: str) -> None:
    assert normalize_name(a) == normalize_name(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_customers(a: str, b: str) -> None:
    assert normalize_name(a) != normalize_name(b)


@pytest.mark.parametrize("name", ["公司", "Inc.", "有限公司", "Co"])
def test_a_bare_suffix_keeps_a_key(name: str) -> None:
    assert normalize_name(name)


def test_key_fits_the_column() -> None:
    assert len(normalize_name("长" * 500)) == 200


def _add(s, name: str, region: int, owner: int | None = None, parent: int | None = None) -> int:  # type: ignore[no-untyped-def]
    c = Customer(name=name, name_key=normalize_name(name), region_id=region, owner_id=owner, parent_id=parent)
    s.add(c)
    s.flush()
    return c.id


def test_find_and_family(db: Database) -> None:
    org: Org = build_org(db)
    head = org.ids["cust:yuanhang"]
    with db.unit_of_work() as s:
        child = _add(s, "远航物流有限公司", org.ids["gz"], org.ids["user:wang"], head)
        grandchild = _add(s, "远航物流（上海）", org.ids["sh"], org.ids["user:zhang"], child)
        other = _add(s, "远航科技", org.ids["hz"])
    with db.unit_of_work() as s:
        found = find_customer(session=s, name="远航集团有限公司")
        assert found is not None and found.id == head
        assert find_customer(session=s, name="远航物流") is not None
        assert find_customer(session=s, name="远航") is None
        tech = find_customer(session=s, name="远航科技股份有限公司")
        assert tech is not None and tech.id == other
        for member in (head, child, grandchild):
            c = s.get(Customer, member)
            assert c is not None
            assert family_ids(session=s, customer=c) == {head, child, grandchild}
        assert family_ids(session=s, customer=tech) == {other}
        assert "远航集团" in close_names(session=s, name="远航")
        assert "远航集团" in close_names(session=s, name="远行集团")


def test_grants_cover_the_family_until_they_expire(db: Database) -> None:
    org = build_org(db)
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    with db.unit_of_work() as s:
        child = _add(s, "远航物流", org.ids["gz"], org.ids["user:wang"], org.ids["cust:yuanhang"])
        s.add(CollabRequest(customer_id=org.ids["cust:yuanhang"], requester_id=org.ids["user:zhang"],
                            owner_region_id=org.ids["gz"], status="approved",
                            expires_at=datetime(2026, 11, 30, tzinfo=UTC)))
        s.add(CollabRequest(customer_id=org.ids["cust:yuanhang"], requester_id=org.ids["user:li"],
                            owner_region_id=org.ids["gz"], status="pending", pending_key="x"))
    with db.unit_of_work() as s:
        from models import Person

        zhang = s.get(Person, org.ids["user:zhang"])
        li = s.get(Person, org.ids["user:li"])
        c = s.get(Customer, child)
        assert zhang is not None and li is not None and c is not None
        assert has_grant(session=s, person=zhang, customer=c, now=now)
        assert not has_grant(session=s, person=zhang, customer=c, now=datetime(2026, 12, 1, tzinfo=UTC))
        assert not has_grant(session=s, person=li, customer=c, now=now)


def test_managers_are_found_up_the_tree(db: Database) -> None:
    org = build_org(db)
    with db.unit_of_work() as s:
        assert [p.code for p in managers_of_region(session=s, region_id=org.ids["gz"])] == ["mgr_south"]
        assert [p.code for p in managers_of_region(session=s, region_id=org.ids["hz"])] == ["mgr_east"]
        assert [p.code for p in managers_of_region(session=s, region_id=org.ids["east"])] == ["mgr_east"]


def test_conflicts_count_for_both_regions(db: Database) -> None:
    org = build_org(db)
    with db.unit_of_work() as s:
        for day, flagged in ((date(2026, 11, 20), True), (date(2026, 11, 21), False), (date(2026, 10, 1), True)):
            s.add(Visit(customer_id=org.ids["cust:yuanhang"], person_id=org.ids["user:zhang"],
                        region_id=org.ids["sh"], day=day, without_permission=flagged))
    with db.unit_of_work() as s:
        start, end = date(2026, 11, 1), date(2026, 11, 30)
        assert conflict_count(session=s, region_ids={org.ids["sh"]}, start=start, end=end) == 1
        assert conflict_count(session=s, region_ids={org.ids["gz"]}, start=start, end=end) == 1
        assert conflict_count(session=s, region_ids={org.ids["north"]}, start=start, end=end) == 0
        assert conflict_count(session=s, region_ids=set(), start=start, end=end) == 0
        assert len(list(s.scalars(select(Visit)))) == 3
