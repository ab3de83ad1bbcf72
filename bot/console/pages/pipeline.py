"""/console/funnel, /console/followups, /console/collabs: the pipeline, breached follow-ups, 撞单."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased
from starlette.responses import Response

from bot.console import params
from bot.console.pages.common import MANAGERS
from bot.console.tables import Column, Table
from bot.console.web import View, page
from models import CollabRequest, Customer, FollowUp, FollowUpStatus, Person, Region, Team, Visit
from services.customers import grant_status
from services.fields import Stage, stage_label
from services.followups import kind_label
from services.goals import region_subtree

_OPEN = [Stage.LEAD, Stage.NEEDS, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.SIGNED]
_NOT_STALLED = {Stage.SIGNED.value, Stage.AFTER_SALE.value, Stage.LOST.value}


def scoped_regions(view: View) -> tuple[Any, str]:
    """A condition on a region id column: `?region=CODE` and below, or the whole scope."""
    code = view.param("region")
    if not code:
        return view.scope.regions, code
    region = view.scope.region(view.session, code)
    ids = sorted(region_subtree(session=view.session, region_ids=[region.id]))
    return (lambda column: column.in_(ids)), code


def region_options(view: View) -> list[tuple[str, str]]:
    return [(c, n) for c, n in view.session.execute(
        select(Region.code, Region.name).where(view.scope.regions(Region.id)).order_by(Region.code))]


def _stage(key: str | None, locale: str) -> str:
    try:
        return stage_label(Stage(key or ""), locale)
    except ValueError:
        return key or ""


@page("/console/funnel", roles=MANAGERS)
def funnel(view: View) -> Response:
    """Customers by stage, conversion between stages, stalled opportunities."""
    t, session, locale = view.t, view.session, view.locale
    span = params.period(view)
    regions, region_code = scoped_regions(view)
    end_at = datetime.combine(span.end + timedelta(days=1), time(), tzinfo=view.today_zone())
    counts = dict(session.execute(
        select(Customer.stage, func.count()).where(regions(Customer.region_id), Customer.created_at < end_at)
        .group_by(Customer.stage)).all())
    rows, previous = [], None
    for stage in Stage:
        count = int(counts.get(stage.value, 0))
        reached = sum(int(counts.get(s.value, 0)) for s in _OPEN[_OPEN.index(stage):]) + \
            int(counts.get(Stage.AFTER_SALE.value, 0)) if stage in _OPEN else None
        conversion = (Decimal(reached) * 100 / previous).quantize(Decimal("0.1")) \
            if reached is not None and previous else None
        rows.append({"stage": stage_label(stage, locale), "key": stage.value, "count": count, "reached": reached,
                     "conversion": conversion if stage is not Stage.LEAD else None})
        if reached is not None:
            previous = reached
    stages = Table("main", t("funnel.stages"), [
        Column("stage", t("col.stage"), link=lambda r: "#t-stalled" if r["key"] not in _NOT_STALLED else None),
        Column("count", t("col.count"), "number"), Column("reached", t("col.reached"), "number"),
        Column("conversion", t("col.conversion"), "pct")], rows)
    cutoff = datetime.combine(view.today() - timedelta(days=view.settings.rules.stalled_days), time.max,
                              tzinfo=view.today_zone())
    owner = aliased(Person)
    since = func.coalesce(Customer.stage_changed_at, Customer.created_at)
    stalled_rows = [{"customer": c.name, "stage": _stage(c.stage, locale), "owner": o_name or "-",
                     "owner_code": o_code, "region": r_name,
                     "since": (c.stage_changed_at or c.created_at).astimezone(view.today_zone()).date(),
                     "days": (view.today() - (c.stage_changed_at or c.created_at).astimezone(view.today_zone()).date()).days}
                    for c, o_name, o_code, r_name in session.execute(
                        select(Customer, owner.name, owner.code, Region.name)
                        .join(Region, Region.id == Customer.region_id).outerjoin(owner, owner.id == Customer.owner_id)
                        .where(regions(Customer.region_id), Customer.stage.not_in(list(_NOT_STALLED)), since <= cutoff)
                        .order_by(since, Customer.name))]
    stalled = Table("stalled", t("funnel.stalled", days=view.settings.rules.stalled_days), [
        Column("customer", t("col.customer")), Column("stage", t("col.stage")),
        Column("owner", t("col.person"), link=lambda r: f"/console/people/{r['owner_code']}" if r["owner_code"] else None),
        Column("region", t("col.region")), Column("since", t("col.since"), "date"),
        Column("days", t("col.days"), "number")], stalled_rows)
    filters = {"period": span.text or str(span.period), "region": region_code}
    return view.respond("pipeline.html", tables=[stages, stalled], filters=filters, title=t("funnel.title"),
                        action="/console/funnel", span=span, regions=region_options(view), region_code=region_code,
                        with_period=True)


@page("/console/followups", roles=MANAGERS)
def followups(view: View) -> Response:
    """Follow-ups overdue and escalated, by tier and by rep."""
    t, session, locale = view.t, view.session, view.locale
    regions, region_code = scoped_regions(view)
    today = view.today()
    calendar = params.calendar(view)
    owner = aliased(Person)
    rows = []
    for f, c, o_name, o_code in session.execute(
            select(FollowUp, Customer, owner.name, owner.code).join(Customer, Customer.id == FollowUp.customer_id)
            .outerjoin(owner, owner.id == FollowUp.owner_id)
            .where(regions(Customer.region_id), FollowUp.status != FollowUpStatus.DONE,
                   FollowUp.open_key.is_not(None), FollowUp.due < today)
            .order_by(FollowUp.due, FollowUp.id)):
        rows.append({"customer": c.name, "tier": c.tier, "kind": kind_label(f.kind, locale), "owner": o_name or "-",
                     "owner_code": o_code, "due": f.due, "overdue": calendar.workdays_since(f.due, today),
                     "escalated": f.escalated})
    by_tier: dict[str, dict[str, Any]] = {}
    by_rep: dict[str, dict[str, Any]] = {}
    for r in rows:
        tier = by_tier.setdefault(r["tier"], {"tier": r["tier"], "overdue": 0, "escalated": 0})
        tier["overdue"] += 1
        tier["escalated"] += r["escalated"]
        rep = by_rep.setdefault(r["owner"], {"owner": r["owner"], "owner_code": r["owner_code"], "overdue": 0,
                                             "escalated": 0, "oldest": 0})
        rep["overdue"] += 1
        rep["escalated"] += r["escalated"]
        rep["oldest"] = max(rep["oldest"], r["overdue"])
    def person_link(r: dict[str, Any]) -> str | None:
        return f"/console/people/{r['owner_code']}" if r.get("owner_code") else None

    tiers = Table("main", t("followups.by_tier"), [
        Column("tier", t("col.tier"), link=lambda r: "#t-rows"), Column("overdue", t("col.overdue"), "number"),
        Column("escalated", t("col.escalated_count"), "number")], [by_tier[k] for k in sorted(by_tier)])
    reps = Table("reps", t("followups.by_rep"), [
        Column("owner", t("col.person"), link=person_link), Column("overdue", t("col.overdue"), "number"),
        Column("escalated", t("col.escalated_count"), "number"), Column("oldest", t("col.oldest"), "number")],
        sorted(by_rep.values(), key=lambda r: (-r["overdue"], r["owner"])))
    detail = Table("rows", t("followups.rows"), [
        Column("customer", t("col.customer")), Column("tier", t("col.tier")), Column("kind", t("col.kind")),
        Column("owner", t("col.person"), link=person_link), Column("due", t("col.due"), "date"),
        Column("overdue", t("col.overdue_days"), "number"), Column("escalated", t("col.escalated"), "bool")], rows)
    filters = {"region": region_code, "day": today.isoformat()}
    return view.respond("pipeline.html", tables=[tiers, reps, detail], filters=filters, title=t("followups.title"),
                        action="/console/followups", span=None, regions=region_options(view),
                        region_code=region_code, with_period=False)


@page("/console/collabs", roles=MANAGERS)
def collabs(view: View) -> Response:
    """Collaboration requests (pending, decided, time to decide) and visits made without permission (撞单)."""
    t, session = view.t, view.session
    regions, region_code = scoped_regions(view)
    requester, decider = aliased(Person), aliased(Person)
    rows = []
    for r, c, req_name, req_code, dec_name, owner_region in session.execute(
            select(CollabRequest, Customer, requester.name, requester.code, decider.name, Region.name)
            .join(Customer, Customer.id == CollabRequest.customer_id)
            .join(requester, requester.id == CollabRequest.requester_id)
            .outerjoin(decider, decider.id == CollabRequest.decided_by_id)
            .join(Region, Region.id == CollabRequest.owner_region_id)
            .outerjoin(Team, Team.id == requester.team_id)
            .where(or_(regions(CollabRequest.owner_region_id), regions(Team.region_id)))
            .order_by(CollabRequest.created_at.desc(), CollabRequest.id.desc())):
        hours = None
        if r.decided_at is not None:
            hours = (Decimal((r.decided_at - r.created_at).total_seconds()) / 3600).quantize(Decimal("0.1"))
        rows.append({"id": r.id, "customer": c.name, "requester": req_name, "requester_code": req_code,
                     "owner_region": owner_region, "reason": r.reason,
                     "status": t(f"collab.{grant_status(r, view.now)}"), "decided_by": dec_name,
                     "created": r.created_at.astimezone(view.today_zone()).strftime("%Y-%m-%d %H:%M"),
                     "hours": hours})
    def link(r: dict[str, Any]) -> str:
        return f"/console/people/{r['requester_code']}"

    requests = Table("main", t("collabs.requests"), [
        Column("id", "#", "number"), Column("customer", t("col.customer")),
        Column("requester", t("col.requester"), link=link), Column("owner_region", t("col.owner_region")),
        Column("status", t("col.status")), Column("decided_by", t("col.decided_by")),
        Column("created", t("col.created")), Column("hours", t("col.hours_to_decide"), "number"),
        Column("reason", t("col.reason"))], rows)
    visitor, owner_region = aliased(Person), aliased(Region)
    conflicts = [{"day": v.day, "customer": c.name, "person": p_name, "person_code": p_code,
                  "owner_region": r_name, "note": v.note}
                 for v, c, p_name, p_code, r_name in session.execute(
                     select(Visit, Customer, visitor.name, visitor.code, owner_region.name)
                     .join(Customer, Customer.id == Visit.customer_id).join(visitor, visitor.id == Visit.person_id)
                     .join(owner_region, owner_region.id == Customer.region_id)
                     .where(Visit.without_permission.is_(True),
                            or_(regions(Visit.region_id), regions(Customer.region_id)))
                     .order_by(Visit.day.desc(), Visit.id.desc()))]
    visits = Table("conflicts", t("collabs.conflicts"), [
        Column("day", t("col.day"), "date"), Column("customer", t("col.customer")),
        Column("person", t("col.person"), link=lambda r: f"/console/people/{r['person_code']}"),
        Column("owner_region", t("col.owner_region")), Column("note", t("col.note"))], conflicts)
    pending = sum(1 for r in rows if r["status"] == t("collab.pending"))
    filters = {"region": region_code}
    return view.respond("pipeline.html", tables=[requests, visits], filters=filters, title=t("collabs.title"),
                        action="/console/collabs", span=None, regions=region_options(view),
                        region_code=region_code, with_period=False, pending=pending)
