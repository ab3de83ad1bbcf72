"""SQLAlchemy 2 typed models. Imports nothing from the app."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MONEY = Numeric(18, 2)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        # MariaDB/MySQL DATETIME drops fractions of a second unless asked; backoffs need them.
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(StrEnum):
    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"


class Platform(StrEnum):
    SLACK = "slack"
    WECOM = "wecom"
    CONSOLE = "console"
    DINGTALK = "dingtalk"
    FEISHU = "feishu"


class Region(Base):
    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    parent: Mapped[Region | None] = relationship(remote_side=[id])


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(16))
    schedule_morning: Mapped[str | None] = mapped_column(String(5))
    schedule_reminder: Mapped[str | None] = mapped_column(String(5))
    schedule_evening: Mapped[str | None] = mapped_column(String(5))
    main_metric: Mapped[str] = mapped_column(String(64), default="signed_amount")
    region: Mapped[Region] = relationship()
    chats: Mapped[list[TeamChat]] = relationship(back_populates="team", cascade="all, delete-orphan",
                                                 order_by="TeamChat.id")

    def set_chats(self, platform: str, kind: str, targets: str | list[str] | tuple[str, ...]) -> None:
        """Make `targets` this team's chats of one platform and kind (none when empty); rows that stay are kept."""
        wanted = [targets] if isinstance(targets, str) else list(targets)
        wanted = list(dict.fromkeys(t for t in wanted if t))
        mine = {c.target for c in self.chats if (c.platform, c.kind) == (platform, kind)}
        self.chats = [c for c in self.chats if (c.platform, c.kind) != (platform, kind) or c.target in wanted]
        self.chats.extend(TeamChat(platform=platform, kind=kind, target=t) for t in wanted if t not in mine)

    def chat_targets(self, platform: str, kind: str) -> list[str]:
        """Return this team's chats of one platform and kind, oldest first."""
        return [c.target for c in self.chats if (c.platform, c.kind) == (platform, kind)]


# The teams.csv columns that hold a team's chats: column -> (platform, kind). A kind is what the
# platform's port sends to: a Slack channel, a WeCom app chat or group-robot webhook, a DingTalk
# openConversationId, a Feishu chat_id.
TEAM_CHAT_COLUMNS: dict[str, tuple[str, str]] = {
    "slack_channel": ("slack", "channel"),
    "wecom_chat": ("wecom", "chat"),
    "wecom_webhook": ("wecom", "webhook"),
    "dingtalk_chat": ("dingtalk", "chat"),
    "feishu_chat": ("feishu", "chat"),
}
# The users.csv columns that hold a person's platform ids (Identity rows): column -> platform.
USER_ID_COLUMNS: dict[str, str] = {
    "slack_user": "slack",
    "wecom_user": "wecom",
    "dingtalk_user": "dingtalk",
    "feishu_user": "feishu",
}


class TeamChat(Base):
    """One place a team's posts go on one platform; a team may have several (one per row)."""

    __tablename__ = "team_chats"
    __table_args__ = (UniqueConstraint("team_id", "platform", "kind", "target"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    # channel (Slack) | chat (WeCom app chat, DingTalk, Feishu) | webhook (WeCom group robot)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(512))
    team: Mapped[Team] = relationship(back_populates="chats")


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default=Role.REP)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    locale: Mapped[str | None] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    team: Mapped[Team | None] = relationship()
    identities: Mapped[list[Identity]] = relationship(back_populates="person", cascade="all, delete-orphan")
    managed: Mapped[list[ManagedRegion]] = relationship(cascade="all, delete-orphan")


class ManagedRegion(Base):
    """A region a person manages (managers may manage several)."""

    __tablename__ = "managed_regions"
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), primary_key=True)
    region: Mapped[Region] = relationship()


class Identity(Base):
    """One platform account of a person; a person may have many."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "external_id"), UniqueConstraint("person_id", "platform"))
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    # Where direct messages go once known (Slack DM channel D..., WeCom user id).
    dm_channel: Mapped[str | None] = mapped_column(String(128))
    person: Mapped[Person] = relationship(back_populates="identities")


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    tier: Mapped[str] = mapped_column(String(1), default="C")
    industry: Mapped[str | None] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    stage: Mapped[str] = mapped_column(String(32), default="lead")
    stage_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_contact: Mapped[date | None] = mapped_column(Date)
    next_follow_up: Mapped[date | None] = mapped_column(Date)
    signed_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    region: Mapped[Region] = relationship()
    owner: Mapped[Person | None] = relationship()
    parent: Mapped[Customer | None] = relationship(remote_side=[id])


class Visit(Base):
    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    day: Mapped[date] = mapped_column(Date, index=True)
    stage: Mapped[str | None] = mapped_column(String(32))
    next_follow_up: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    without_permission: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    customer: Mapped[Customer] = relationship()
    person: Mapped[Person] = relationship()


class CollabStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class CollabRequest(Base):
    __tablename__ = "collab_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    owner_region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=CollabStatus.PENDING)
    # Set while pending, cleared on decision: one pending request per requester and customer.
    pending_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    customer: Mapped[Customer] = relationship()
    requester: Mapped[Person] = relationship(foreign_keys=[requester_id])
    decided_by: Mapped[Person | None] = relationship(foreign_keys=[decided_by_id])
    owner_region: Mapped[Region] = relationship()


class FollowUpKind(StrEnum):
    TIER = "tier"
    NEW_LEAD = "new_lead"
    POST_SIGN = "post_sign"
    PROMISED = "promised"


class FollowUpStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    SNOOZED = "snoozed"


class FollowUp(Base):
    """A follow-up owed on a customer; at most one open per customer."""

    __tablename__ = "followups"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    due: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), default=FollowUpStatus.OPEN)
    # Set while open or snoozed, cleared when done: one live follow-up per customer.
    open_key: Mapped[int | None] = mapped_column(Integer, unique=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_on: Mapped[date | None] = mapped_column(Date)
    nudged_on: Mapped[date | None] = mapped_column(Date)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    customer: Mapped[Customer] = relationship()
    owner: Mapped[Person | None] = relationship()


class GoalScope(StrEnum):
    USER = "user"
    TEAM = "team"
    REGION = "region"


class Goal(Base):
    __tablename__ = "goals"
    __table_args__ = (UniqueConstraint("scope", "code", "period", "metric"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(64))
    target: Mapped[Decimal] = mapped_column(MONEY)
    floor: Mapped[Decimal | None] = mapped_column(MONEY)
    stretch: Mapped[Decimal | None] = mapped_column(MONEY)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class GoalProposal(Base):
    """A /goal split proposal waiting for its goal_apply press."""

    __tablename__ = "goal_proposals"
    id: Mapped[int] = mapped_column(primary_key=True)
    asker_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DailyReport(Base):
    """One person's day: key actions in the morning, the report in the evening."""

    __tablename__ = "daily_reports"
    __table_args__ = (UniqueConstraint("person_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    visits: Mapped[int | None] = mapped_column(Integer)
    new_leads: Mapped[int | None] = mapped_column(Integer)
    new_customers: Mapped[int | None] = mapped_column(Integer)
    opportunities: Mapped[int | None] = mapped_column(Integer)
    signed_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    collected_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    plan: Mapped[str | None] = mapped_column(Text)
    blockers: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    key_actions: Mapped[list[str] | None] = mapped_column(JSON)
    raw_text: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    person: Mapped[Person] = relationship()


class UnreadReport(Base):
    """A report that could not be read: kept so nothing the rep typed is lost."""

    __tablename__ = "unread_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    raw_text: Mapped[str] = mapped_column(Text)
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReportField(Base):
    """A report field added or relabelled by an admin (defaults live in code)."""

    __tablename__ = "report_fields"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    labels_zh: Mapped[list[str]] = mapped_column(JSON, default=list)
    labels_en: Mapped[list[str]] = mapped_column(JSON, default=list)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=100)


class Holiday(Base):
    __tablename__ = "holidays"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")


class InboundEvent(Base):
    """Every inbound event, keyed by the platform's id: a second arrival is a retry."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("platform", "event_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    event_key: Mapped[str] = mapped_column(String(191))
    kind: Mapped[str] = mapped_column(String(32), default="message")
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The event as received (JSON), kept until it is handled: acknowledged before it is handled.
    payload: Mapped[str | None] = mapped_column(Text)
    # When it was handled (replies enqueued); NULL while stored but not yet handled.
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


class OutboxMessage(Base):
    """One message to one platform target; the unique key makes every send happen once."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(191), unique=True)
    platform: Mapped[str] = mapped_column(String(16), index=True)
    # user | channel | chat | webhook | response_url
    target_kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(512))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Key of an earlier message this one replaces (chat.update / update_template_card).
    update_of: Mapped[str | None] = mapped_column(String(191))
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    # Platform references for later updates: Slack channel + ts, WeCom msgid / response_code.
    ref_channel: Mapped[str | None] = mapped_column(String(128))
    ref_id: Mapped[str | None] = mapped_column(String(256))
    response_code: Mapped[str | None] = mapped_column(String(256))
    response_code_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class JobRun(Base):
    """The claim of (job, team, business day): a second run finds it and sends nothing."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "team_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(32))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    day: Mapped[date] = mapped_column(Date)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    enqueued: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TemplateVersion(Base):
    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("name", "locale", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    author: Mapped[Person | None] = relationship()


class KeyValue(Base):
    """Small shared state across processes (the WeCom access token)."""

    __tablename__ = "kv"
    key: Mapped[str] = mapped_column(String(191), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConsoleLink(Base):
    """A one-time sign-in link to the web console; only the SHA-256 of its token is kept."""

    __tablename__ = "console_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConsoleSession(Base):
    """A signed-in console session; the cookie holds a random id, this row its SHA-256."""

    __tablename__ = "console_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    # The person's role and regions when the session began: a change ends the session.
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ConsoleFailure(Base):
    """A failed sign-in link redemption, counted per address so replicas agree on the limit."""

    __tablename__ = "console_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class AuditEntry(Base):
    """One change someone made (who, when, what, to what, before and after), written with the change."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # The person who made the change; NULL for the command line or the system.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    # Who, as a person's code or `cli:USER` / `system`, kept as written even if the person changes.
    actor: Mapped[str] = mapped_column(String(200))
    # Where: a chat platform (slack, wecom, dingtalk, feishu, terminal), console (the web console) or cli.
    source: Mapped[str] = mapped_column(String(16))
    # What: template.save, field.add, goal.set, collab.approve, import, console.sign_in, ...
    action: Mapped[str] = mapped_column(String(32), index=True)
    # To what, in words an admin can search: `report_reply zh-CN`, `user zhang 2026-11 signed_amount`.
    target: Mapped[str] = mapped_column(String(255), default="")
    before: Mapped[Any | None] = mapped_column(JSON)
    after: Mapped[Any | None] = mapped_column(JSON)
    actor_person: Mapped[Person | None] = relationship()


# ---------------------------------------------------------------------------
# Report totals, kept up to date as reports are written (models/rollups.py): what the console's overview of a
# region of 10,000 sellers reads instead of their millions of daily reports. Never written by hand.

REPORT_COUNTS = ("visits", "new_leads", "new_customers", "opportunities")
REPORT_AMOUNTS = ("signed_amount", "collected_amount")


class _Numbers:
    """Submitted reports added up: how many, and a column per number of the report."""

    reports: Mapped[int] = mapped_column(Integer, default=0)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    new_leads: Mapped[int] = mapped_column(Integer, default=0)
    new_customers: Mapped[int] = mapped_column(Integer, default=0)
    opportunities: Mapped[int] = mapped_column(Integer, default=0)
    signed_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    collected_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))


class _PersonTotals(_Numbers):
    """A person's submitted reports over some days filed in one team, added up, and for each number the
    reports with it above zero (the forecast counts those as deals)."""

    person_id: Mapped[int] = mapped_column(Integer, autoincrement=False)
    # the team the reports were filed in; 0 for none (a key column cannot be NULL)
    team_id: Mapped[int] = mapped_column(Integer, autoincrement=False)
    visits_days: Mapped[int] = mapped_column(Integer, default=0)
    new_leads_days: Mapped[int] = mapped_column(Integer, default=0)
    new_customers_days: Mapped[int] = mapped_column(Integer, default=0)
    opportunities_days: Mapped[int] = mapped_column(Integer, default=0)
    signed_amount_days: Mapped[int] = mapped_column(Integer, default=0)
    collected_amount_days: Mapped[int] = mapped_column(Integer, default=0)


class ReportMonth(_PersonTotals, Base):
    """A person's reports of one month, by team. The key leads with the month: a span of months is one range of
    it (and of the rows, on MariaDB)."""

    __tablename__ = "report_months"
    __table_args__ = (PrimaryKeyConstraint("month", "person_id", "team_id"),)
    month: Mapped[date] = mapped_column(Date)  # its first day


class ReportBlock(_PersonTotals, Base):
    """A person's reports of one block of a month, by team: days 1-5, 6-10, 11-15, 16-20, 21-25 and 26 to the
    month's end. A span that starts or ends inside a month is read from blocks and a few days, not every day."""

    __tablename__ = "report_blocks"
    __table_args__ = (PrimaryKeyConstraint("start", "person_id", "team_id"),)
    start: Mapped[date] = mapped_column(Date)  # the block's first day


class ReportTeamDay(_Numbers, Base):
    """One team's submitted reports of one day, added up (the console's trend by day)."""

    __tablename__ = "report_team_days"
    __table_args__ = (PrimaryKeyConstraint("day", "team_id"),)  # the day first: the trend reads days
    day: Mapped[date] = mapped_column(Date)
    team_id: Mapped[int] = mapped_column(Integer, autoincrement=False)


from models import rollups as _rollups  # noqa: E402,F401 - keeps the three tables above up to date
