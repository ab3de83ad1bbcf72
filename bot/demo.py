"""`salesbot demo`: a believable organisation with 60 workdays of history, idempotent and deterministic."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.settings import Settings
from models import (
    CollabRequest,
    CollabStatus,
    Customer,
    DailyReport,
    FollowUp,
    Goal,
    KeyValue,
    Person,
    Region,
    Team,
    Visit,
)
from services.calendar import WorkCalendar, load_calendar
from services.customers import normalize_name
from services.transfer import Row, import_rows

SEED = 20261123
HISTORY_WORKDAYS = 60
MARKER = "demo:history"

REGIONS = [
    ("huadong", "华东", ""), ("shanghai", "上海", "huadong"), ("hangzhou", "杭州", "huadong"),
    ("huanan", "华南", ""), ("guangzhou", "广州", "huanan"), ("north", "North", ""),
]
TEAMS = [
    ("sh1", "上海一组", "shanghai", "Asia/Shanghai", "zh-CN"),
    ("gz1", "广州一组", "guangzhou", "Asia/Shanghai", "zh-CN"),
    ("n1", "North Team", "north", "America/New_York", "en"),
]
# code, name, role, team, manages
PEOPLE = [
    ("zhangwei", "张伟", "rep", "sh1", ""), ("lina", "李娜", "rep", "sh1", ""),
    ("wangqiang", "王强", "rep", "sh1", ""), ("liuyang", "刘洋", "rep", "sh1", ""),
    ("chenjing", "陈静", "rep", "sh1", ""),
    ("wangfang", "王芳", "rep", "gz1", ""), ("huangmin", "黄敏", "rep", "gz1", ""),
    ("zhaolei", "赵磊", "rep", "gz1", ""), ("zhoujie", "周杰", "rep", "gz1", ""),
    ("bob", "Bob Smith", "rep", "n1", ""), ("alice", "Alice Chen", "rep", "n1", ""),
    ("tom", "Tom Walker", "rep", "n1", ""),
    ("chenjl", "陈建林", "manager", "sh1", "huadong;north"),
    ("liujl", "刘佳丽", "manager", "gz1", "huanan"),
    ("nora", "Nora Park", "manager", "n1", "north"),
    ("admin", "系统管理员", "admin", "", ""),
]
REPS = {"sh1": ["zhangwei", "lina", "wangqiang", "liuyang", "chenjing"],
        "gz1": ["wangfang", "huangmin", "zhaolei", "zhoujie"], "n1": ["bob", "alice", "tom"]}
# name, region, owner, tier, industry, parent, stage
CUSTOMERS = [
    ("远航集团", "guangzhou", "wangfang", "A", "制造", "", "proposal"),
    ("远航集团上海分公司", "shanghai", "zhangwei", "B", "制造", "远航集团", "needs"),
    ("远航物流", "guangzhou", "huangmin", "B", "物流", "远航集团", "negotiation"),
    ("华信集团", "hangzhou", "liuyang", "A", "金融", "", "negotiation"),
    ("华信科技", "hangzhou", "liuyang", "B", "互联网", "华信集团", "proposal"),
    ("星河科技", "shanghai", "zhangwei", "A", "互联网", "", "signed"),
    ("东方明珠传媒", "shanghai", "lina", "A", "传媒", "", "negotiation"),
    ("申通精密", "shanghai", "lina", "B", "制造", "", "needs"),
    ("浦江医疗", "shanghai", "wangqiang", "A", "医疗", "", "proposal"),
    ("静安置业", "shanghai", "wangqiang", "C", "地产", "", "lead"),
    ("徐汇教育", "shanghai", "chenjing", "B", "教育", "", "after_sale"),
    ("金桥电子", "shanghai", "chenjing", "B", "电子", "", "lead"),
    ("外滩咨询", "shanghai", "zhangwei", "C", "咨询", "", "lost"),
    ("西湖茶业", "hangzhou", "liuyang", "C", "食品", "", "needs"),
    ("钱塘新能源", "hangzhou", "chenjing", "A", "能源", "", "proposal"),
    ("良渚文旅", "hangzhou", "wangqiang", "C", "文旅", "", "lead"),
    ("滨江智造", "hangzhou", "lina", "B", "制造", "", "signed"),
    ("珠江啤酒贸易", "guangzhou", "wangfang", "B", "食品", "", "negotiation"),
    ("天河软件", "guangzhou", "huangmin", "A", "互联网", "", "signed"),
    ("白云航空服务", "guangzhou", "zhaolei", "A", "航空", "", "proposal"),
    ("番禺家具", "guangzhou", "zhaolei", "C", "制造", "", "lead"),
    ("黄埔港务", "guangzhou", "zhoujie", "B", "物流", "", "needs"),
    ("越秀餐饮", "guangzhou", "zhoujie", "C", "餐饮", "", "after_sale"),
    ("南沙汽车", "guangzhou", "wangfang", "A", "汽车", "", "needs"),
    ("花都皮具", "guangzhou", "huangmin", "C", "零售", "", "lost"),
    ("岭南制药", "guangzhou", "zhaolei", "B", "医疗", "", "negotiation"),
    ("海珠电商", "guangzhou", "zhoujie", "B", "互联网", "", "proposal"),
    ("增城农业", "guangzhou", "zhoujie", "C", "农业", "", "lead"),
    ("Maple Leaf Foods", "north", "bob", "A", "Food", "", "negotiation"),
    ("Northwind Traders", "north", "alice", "A", "Retail", "", "proposal"),
    ("Harbor Health", "north", "tom", "B", "Healthcare", "", "needs"),
    ("Lakeside Logistics", "north", "bob", "B", "Logistics", "", "signed"),
    ("Pine Ridge Energy", "north", "alice", "B", "Energy", "", "lead"),
    ("Summit Analytics", "north", "tom", "C", "Software", "", "needs"),
    ("Great Plains Grain", "north", "bob", "C", "Agriculture", "", "lost"),
    ("Riverbend Schools", "north", "alice", "C", "Education", "", "after_sale"),
    ("Atlas Robotics", "north", "tom", "A", "Manufacturing", "", "negotiation"),
    ("Atlas Robotics Asia", "shanghai", "wangqiang", "B", "Manufacturing", "Atlas Robotics", "needs"),
    ("Bluewater Hotels", "north", "bob", "B", "Hospitality", "", "proposal"),
    ("Cedar Insurance", "north", "alice", "C", "Insurance", "", "lead"),
]
# (rep, customer, status) — a rep asking another region for contact rights
COLLABS = [
    ("zhangwei", "远航集团", "approved", "客户总部采购在上海，需要当面拜访"),
    ("lina", "华信集团", "pending", "展会上认识了华信的采购总监"),
    ("zhoujie", "星河科技", "rejected", "对方广州办事处想了解我们的方案"),
    ("alice", "Atlas Robotics Asia", "pending", "Their US parent asked us to help with the Shanghai office"),
]

_ZH_ACTIONS = ["拜访{c}，确认需求", "给{c}发报价单", "跟进{c}的回款", "准备{c}的方案演示", "约{c}的决策人吃饭",
               "整理本周客户清单", "更新CRM里的商机阶段", "电话回访{c}", "和技术一起梳理{c}的方案"]
_EN_ACTIONS = ["Visit {c} to confirm needs", "Send the quote to {c}", "Chase the payment from {c}",
               "Prepare the demo for {c}", "Book a lunch with {c}'s buyer", "Clean up this week's pipeline",
               "Call {c} back", "Review the proposal for {c} with solutions"]
_ZH_BLOCKERS = ["客户预算要等下季度", "需要技术支持出方案", "竞品价格压得很低", "合同法务审核比较慢"]
_EN_BLOCKERS = ["Budget moves to next quarter", "Need a solutions engineer for the demo",
                "Competitor is undercutting on price", "Legal review of the contract is slow"]
_ZH_NOTES = ["聊了明年的预算", "演示了新版功能，反馈不错", "对价格有顾虑", "见到了决策人", "介绍了成功案例"]
_EN_NOTES = ["Talked about next year's budget", "Demoed the new release, good feedback", "Worried about price",
             "Met the decision maker", "Walked through a customer story"]


@dataclass
class DemoSummary:
    regions: int
    teams: int
    people: int
    customers: int
    history_added: bool


def _rows(columns: tuple[str, ...], values: list[tuple[Any, ...]]) -> tuple[list[str], list[Row]]:
    return list(columns), [Row(i + 2, {c: str(v) for c, v in zip(columns, vs, strict=True)})
                           for i, vs in enumerate(values)]


def _goal_rows(today: date) -> list[tuple[str, str, str, str, str, str, str]]:
    month, quarter, year = f"{today:%Y-%m}", f"{today.year}-Q{(today.month - 1) // 3 + 1}", str(today.year)

    def goal(scope: str, code: str, period: str, metric: str, target: int) -> tuple[str, ...]:
        return (scope, code, period, metric, str(target), str(target * 7 // 10), str(target * 13 // 10))

    rows: list[Any] = []
    for team, reps in REPS.items():
        per_rep = 400_000 if team != "n1" else 250_000
        for rep in reps:
            rows += [goal("user", rep, month, "signed_amount", per_rep),
                     goal("user", rep, quarter, "signed_amount", per_rep * 3),
                     goal("user", rep, year, "signed_amount", per_rep * 12),
                     goal("user", rep, month, "visits", 40)]
        total = per_rep * len(reps)
        rows += [goal("team", team, month, "signed_amount", total), goal("team", team, quarter, "signed_amount",
                                                                         total * 3),
                 goal("team", team, year, "signed_amount", total * 12)]
    for region, monthly in (("huadong", 2_000_000), ("huanan", 1_600_000), ("north", 750_000)):
        rows += [goal("region", region, month, "signed_amount", monthly),
                 goal("region", region, quarter, "signed_amount", monthly * 3),
                 goal("region", region, year, "signed_amount", monthly * 12)]
    return rows


def build_organisation(session: Session, *, now: datetime, today: date) -> None:
    """Upsert the demo regions, teams, people, customers and goals (validated like an import)."""
    batches = [
        ("regions", _rows(("code", "name", "parent"), REGIONS)),
        ("teams", _rows(("code", "name", "region", "timezone", "locale"), TEAMS)),
        ("users", _rows(("code", "name", "role", "team", "manages"), PEOPLE)),
        ("customers", _rows(("name", "region", "owner", "tier", "industry", "parent", "stage"), CUSTOMERS)),
        ("goals", _rows(("scope", "code", "period", "metric", "target", "floor", "stretch"), _goal_rows(today))),
    ]
    for kind, (header, rows) in batches:
        taken = _taken(session, kind)
        fresh = [r for r in rows if _row_key(kind, r) not in taken]
        if fresh:
            import_rows(session=session, kind=kind, header=header, rows=fresh, now=now)


def _row_key(kind: str, row: Row) -> Any:
    if kind == "customers":
        return normalize_name(row.get("name"))
    if kind == "goals":
        return tuple(row.get(c) for c in ("scope", "code", "period", "metric"))
    return row.get("code").casefold()


def _taken(session: Session, kind: str) -> set[Any]:
    """Return the keys already stored: the demo adds what is missing and never changes anyone's rows."""
    if kind == "customers":
        names = session.execute(select(Customer.name, Customer.name_key)).all()
        return {normalize_name(n) for n, _ in names} | {k for _, k in names}
    if kind == "goals":
        return {tuple(r) for r in session.execute(select(Goal.scope, Goal.code, Goal.period, Goal.metric))}
    model = {"regions": Region, "teams": Team, "users": Person}[kind]
    return {c.casefold() for (c,) in session.execute(select(model.code))}


def _report_text(locale: str, values: dict[str, Any]) -> str:
    zh = locale == "zh-CN"
    labels = {"visits": ("拜访", "visits"), "new_leads": ("新线索", "new leads"),
              "new_customers": ("新客户", "new customers"), "opportunities": ("商机", "opportunities"),
              "signed_amount": ("签约", "signed"), "collected_amount": ("回款", "collected"),
              "plan": ("明日计划", "plan"), "blockers": ("问题", "blockers")}
    lines = ["日报" if zh else "daily report"]
    for key, (zh_label, en_label) in labels.items():
        value = values.get(key)
        lines.append(f"{zh_label if zh else en_label}: {'' if value is None else value}")
    return "\n".join(lines)


def add_history(session: Session, *, settings: Settings, calendar: WorkCalendar, now: datetime,
                step: Callable[[], None] | None = None) -> None:
    """Add 60 workdays of reports, visits, follow-ups and collaboration requests (call once)."""
    rng = random.Random(SEED)
    step = step or (lambda: None)
    teams = {t.code: t for t in session.scalars(select(Team).where(Team.code.in_(list(REPS))))}
    people = {p.code: p for p in session.scalars(select(Person).where(Person.code.in_([p[0] for p in PEOPLE])))}
    demo_regions = select(Region.id).where(Region.code.in_([r[0] for r in REGIONS]))
    # Only the demo's own customers get history (an imported one may share a name).
    customers = {c.name: c for c in session.scalars(select(Customer).where(
        Customer.name.in_([c[0] for c in CUSTOMERS]), Customer.region_id.in_(demo_regions)))}
    by_owner: dict[int, list[Customer]] = {}
    for c in customers.values():
        if c.owner_id is not None:
            by_owner.setdefault(c.owner_id, []).append(c)
    last_visit: dict[int, date] = {}
    for team_code, reps in REPS.items():
        team = teams[team_code]
        zone = ZoneInfo(team.timezone or settings.org.timezone)
        locale = team.locale or settings.org.locale
        zh = locale == "zh-CN"
        today = now.astimezone(zone).date()
        days = calendar.workdays(today - timedelta(days=120), today - timedelta(days=1))[-HISTORY_WORKDAYS:]
        for code in reps:
            person = people[code]
            mine = sorted(by_owner.get(person.id, []), key=lambda c: c.name) or list(customers.values())[:3]
            for day in days:
                if rng.random() < 0.08:  # a missed day now and then
                    continue
                visits = rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5])
                signed = Decimal(rng.randrange(20, 300) * 1000) if rng.random() < 0.18 else None
                collected = Decimal(rng.randrange(10, 200) * 1000) if rng.random() < 0.12 else None
                pick = [c.name for c in rng.sample(mine, k=min(3, len(mine)))]
                actions = [rng.choice(_ZH_ACTIONS if zh else _EN_ACTIONS).format(c=pick[i % len(pick)])
                           for i in range(3)]
                values: dict[str, Any] = {
                    "visits": visits, "new_leads": rng.choice([0, 0, 1, 1, 2, 3]),
                    "new_customers": rng.choice([0, 0, 0, 0, 1]), "opportunities": rng.choice([0, 1, 1, 2]),
                    "signed_amount": signed, "collected_amount": collected,
                    "plan": rng.choice(_ZH_ACTIONS if zh else _EN_ACTIONS).format(c=pick[0]),
                    "blockers": rng.choice(_ZH_BLOCKERS if zh else _EN_BLOCKERS) if rng.random() < 0.2 else None,
                }
                sent = datetime.combine(day, time(18, rng.randrange(0, 59)), zone).astimezone(UTC)
                session.add(DailyReport(person_id=person.id, team_id=team.id, day=day, **values, extra={},
                                        key_actions=actions, raw_text=_report_text(locale, values),
                                        submitted_at=sent, updated_at=sent))
                visited: set[int] = set()
                for _ in range(min(visits, 2)):
                    customer = rng.choice(mine)
                    note = rng.choice(_ZH_NOTES if zh else _EN_NOTES)
                    if customer.id in visited:  # one visit a customer a day: a card never lists the same twice
                        continue
                    visited.add(customer.id)
                    session.add(Visit(customer_id=customer.id, person_id=person.id, region_id=team.region_id,
                                      day=day, stage=customer.stage, note=note, created_at=sent))
                    last_visit[customer.id] = max(day, last_visit.get(customer.id, day))
            step()
    # A few visits made on another region's customer without asking first.
    for rep, name in (("zhoujie", "浦江医疗"), ("tom", "东方明珠传媒"), ("liuyang", "天河软件")):
        if name not in customers:
            continue
        person, customer = people[rep], customers[name]
        team = teams[REPS_TEAM[rep]]
        day = calendar.workdays(now.date() - timedelta(days=20), now.date() - timedelta(days=1))[-3]
        session.add(Visit(customer_id=customer.id, person_id=person.id, region_id=team.region_id, day=day,
                          stage=customer.stage, note="顺路拜访" if team.locale != "en" else "Dropped by on the way",
                          without_permission=True, created_at=now))
    # Customers: last contact from the visits, promised next steps, some opportunities stalled.
    for customer in customers.values():
        seen = last_visit.get(customer.id)
        if customer.stage == "lead" and rng.random() < 0.5:
            seen = None  # a fresh lead nobody has called yet
            customer.created_at = now - timedelta(hours=rng.choice([20, 50, 100]))
        customer.last_contact = seen
        customer.next_follow_up = (seen + timedelta(days=rng.choice([3, 5, 7, 10]))) if seen else None
        customer.stage_changed_at = now - timedelta(days=rng.choice([3, 8, 20, 30]))
        if customer.stage in ("signed", "after_sale") and seen:
            customer.signed_on = seen - timedelta(days=rng.choice([2, 10, 30]))
    session.flush()
    step()
    _add_collabs(session, settings=settings, people=people, customers=customers, now=now)
    _add_followups(session, settings=settings, calendar=calendar, now=now, customers=customers)
    step()


REPS_TEAM = {rep: team for team, reps in REPS.items() for rep in reps}


def _add_collabs(session: Session, *, settings: Settings, people: dict[str, Person],
                 customers: dict[str, Customer], now: datetime) -> None:
    managers = {"huadong": "chenjl", "shanghai": "chenjl", "hangzhou": "chenjl", "north": "nora",
                "huanan": "liujl", "guangzhou": "liujl"}
    region_codes = {r.id: r.code for r in session.scalars(select(Region))}
    for i, (rep, name, status, reason) in enumerate(COLLABS):
        if name not in customers:
            continue
        customer, requester = customers[name], people[rep]
        created = now - timedelta(days=6 - i, hours=3)
        request = CollabRequest(customer_id=customer.id, requester_id=requester.id,
                                owner_region_id=customer.region_id, reason=reason, status=status,
                                created_at=created)
        if status == CollabStatus.PENDING:
            request.pending_key = f"{requester.id}:{customer.id}"
        else:
            request.decided_by_id = people[managers.get(region_codes[customer.region_id], "admin")].id
            request.decided_at = created + timedelta(hours=2)
            if status == CollabStatus.APPROVED:
                request.expires_at = request.decided_at + timedelta(days=settings.collab.grant_days)
        session.add(request)


def _add_followups(session: Session, *, settings: Settings, calendar: WorkCalendar, now: datetime,
                   customers: dict[str, Customer]) -> None:
    today = now.astimezone(ZoneInfo(settings.org.timezone)).date()
    try:
        from services.followups import refresh
    except ImportError:
        return
    refresh(session=session, settings=settings, calendar=calendar, today=today, now=now)
    ids = [c.id for c in customers.values()]
    overdue = list(session.scalars(select(FollowUp).where(FollowUp.customer_id.in_(ids),
                                                          FollowUp.open_key.is_not(None),
                                                          FollowUp.due < today).order_by(FollowUp.due)))
    for followup in overdue[:3]:
        followup.escalated = True
        followup.escalated_on = today - timedelta(days=1)
    session.flush()


def _history_present(session: Session) -> bool:
    return session.get(KeyValue, MARKER) is not None


def fill(db: Any, settings: Settings, now: datetime, *, step: Callable[[], None] | None = None) -> DemoSummary:
    """Add the demo organisation to a database and, once, its history, as if the clock read `now`."""
    step = step or (lambda: None)
    today = now.astimezone(ZoneInfo(settings.org.timezone)).date()
    with db.unit_of_work() as session:
        build_organisation(session, now=now, today=today)
        step()
        added = False
        if not _history_present(session):
            calendar = load_calendar(session, settings.org.holidays)
            add_history(session, settings=settings, calendar=calendar, now=now, step=step)
            session.add(KeyValue(key=MARKER, value=now.isoformat()))
            added = True
    return DemoSummary(regions=len(REGIONS), teams=len(TEAMS), people=len(PEOPLE), customers=len(CUSTOMERS),
                       history_added=added)


def run_demo(app: Any) -> DemoSummary:
    """Fill the configured database with the demo organisation and, once, its history."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    now = app.clock.now()
    settings: Settings = app.settings
    console = Console(stderr=True)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), console=console, transient=True,
                      disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task("demo organisation", total=len(REPS) + sum(len(r) for r in REPS.values()) + 2)
            summary = fill(app.db, settings, now, step=lambda: bar.advance(task))
    finally:
        app.close()
    history = (f"{HISTORY_WORKDAYS} workdays of reports, visits, follow-ups and collaboration requests"
               if summary.history_added else "history already there (not added again)")
    typer.echo(f"demo organisation ready: {summary.regions} regions, {summary.teams} teams, "
               f"{summary.people} people, {summary.customers} customers; {history}.")
    typer.echo("users: zhangwei lina wangqiang liuyang chenjing (sh1), wangfang huangmin zhaolei zhoujie (gz1), "
               "bob alice tom (n1, English); managers chenjl (华东+North) liujl (华南) nora (North); admin.")
    typer.echo("try next:")
    typer.echo("  salesbot chat --user zhangwei")
    typer.echo("  salesbot run-job evening --team sh1")
    typer.echo("  salesbot export reports --format json")
    typer.echo("to try it in Slack, WeCom or DingTalk: `salesbot export users > users.csv`, put your own id in "
               "slack_user, wecom_user or dingtalk_user of a demo person, `salesbot import users users.csv` "
               "(teams.csv: slack_channel, wecom_chat, dingtalk_chat); see the README")
    return summary
