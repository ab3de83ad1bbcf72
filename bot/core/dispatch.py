"""dispatch(): dedupe, resolve the person, route, reply — one unit of work per inbound event."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from bot.core.clock import Clock, SystemClock
from bot.core.context import Context, template_overrides
from bot.core.db import Database
from bot.core.errors import UserFacingError
from bot.core.outbox import KNOWN_TARGETS, Outbox, enqueue, without_waiting_for_disk
from bot.core.router import Router
from bot.core.settings import Settings
from bot.core.types import (
    Action,
    DispatchResult,
    HandlerResult,
    Inbound,
    InboundKind,
    Outbound,
    ToPerson,
    ToTarget,
)
from models import Identity, InboundEvent, Person

log = logging.getLogger("salesbot.dispatch")

MAX_INBOUND_CHARS = 8000


def resolve_person(session: Session, platform: str, user_id: str) -> Person | None:
    """Find the one person behind a platform account (console: the person's code).

    The account's own reply target is remembered in the session, so replies to the sender need
    no second look-up (see outbox.person_targets).
    """
    if platform == "console":
        person = session.scalar(select(Person).where(Person.code == user_id).options(joinedload(Person.team)))
        if person is not None:
            _remember_target(session, person.id, "console", user_id)
        return person
    row = session.execute(
        select(Person, Identity.dm_channel).join(Identity)
        .where(Identity.platform == platform, Identity.external_id == user_id)
        .options(joinedload(Person.team))
    ).first()
    if row is None:
        return None
    person, dm_channel = row
    _remember_target(session, person.id, platform, dm_channel if platform == "slack" and dm_channel else user_id)
    return person


def _remember_target(session: Session, person_id: int, platform: str, target: str) -> None:
    session.info.setdefault(KNOWN_TARGETS, {})[(person_id, platform)] = [(platform, "user", target)]


def _strip_nul(inbound: Inbound) -> None:
    """Drop NUL characters, which PostgreSQL cannot store in text (found by tests/reliability/test_fuzz.py)."""
    if "\x00" in inbound.text:
        inbound.text = inbound.text.replace("\x00", "")
    if inbound.action is not None and "\x00" in inbound.action.value:
        inbound.action = Action(inbound.action.action_id, inbound.action.value.replace("\x00", ""))
    if any("\x00" in v for v in inbound.form_values.values()):
        inbound.form_values = {k: v.replace("\x00", "") for k, v in inbound.form_values.items()}


class Receipt:
    """The one INSERT that stores an event before it is acknowledged, on the driver's connection.

    Every request waits for it before its ack, so it skips what SQLAlchemy's Connection adds
    around a statement (transaction objects, events, result wrapping): the statement is compiled
    once for the dialect, its values go through the columns' own bind processors, and on SQLite,
    whose pooled connections are in autocommit mode, the single INSERT commits by itself with no
    BEGIN IMMEDIATE/COMMIT pair. Measured alone on SQLite: 0.19 ms -> 0.07 ms a receipt.
    """

    COLUMNS = ("platform", "event_key", "kind", "received_at", "payload")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = engine.dialect
        table = InboundEvent.__table__
        stmt = insert(table).values({c: bindparam(c) for c in self.COLUMNS})
        self.returning = dialect.name == "postgresql"
        if self.returning:
            stmt = stmt.returning(table.c.id)
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order = list(compiled.positiontup or []) if compiled.positional else None
        self.processors = {c: table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in self.COLUMNS}
        self.duplicate: type[Exception] = dialect.dbapi.IntegrityError  # type: ignore[union-attr]

    def store(self, row: dict[str, Any]) -> int:
        """Insert and commit one event; return its id (raises `self.duplicate` for a retry)."""
        values = {c: (proc(row[c]) if (proc := self.processors[c]) is not None else row[c]) for c in self.COLUMNS}
        params: Any = [values[name] for name in self.order] if self.order is not None else values
        conn = self.engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(self.sql, params)
                event_id = cursor.fetchone()[0] if self.returning else cursor.lastrowid
            finally:
                cursor.close()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()  # back to the pool
        return int(event_id)


@dataclass
class Dispatcher:
    db: Database
    settings: Settings
    router: Router
    outbox: Outbox | None = None
    clock: Clock = SystemClock()  # noqa: RUF009 - stateless
    observe: Callable[[str, str, float], None] | None = None  # (platform, route, seconds)
    _receipt: Receipt | None = field(default=None, init=False, repr=False)

    def dispatch(self, inbound: Inbound, *, deliver: bool = True) -> DispatchResult:
        """Handle one inbound event exactly once; replies go through the outbox."""
        started = time.perf_counter()
        _strip_nul(inbound)
        base_key = f"in:{inbound.platform}:{inbound.event_key}"
        try:
            result = self._dispatch_once(inbound, base_key, send_after=deliver)
        except IntegrityError:
            log.info("duplicate platform=%s key=%s", inbound.platform, inbound.event_key)
            return DispatchResult(duplicate=True)
        except Exception:
            log.exception("handler failed platform=%s key=%s", inbound.platform, inbound.event_key)
            result = self._internal_error(inbound, base_key)
        self._finish(inbound, result, started, deliver)
        return result

    def _finish(self, inbound: Inbound, result: DispatchResult, started: float, deliver: bool) -> None:
        if deliver and self.outbox is not None and result.keys:
            self.outbox.send_claimed(result.claimed)
            claimed = {env.key for env in result.claimed}
            rest = [key for key in result.keys if key not in claimed]
            if rest:
                self.outbox.deliver(rest)
        if self.observe is not None:
            self.observe(inbound.platform, result.route or "none", time.perf_counter() - started)
        log.info("inbound platform=%s kind=%s route=%s duplicate=%s replies=%d", inbound.platform,
                 inbound.kind, result.route, result.duplicate, len(result.keys))

    def _record(self, session: Session, inbound: Inbound, person: Person | None) -> None:
        now = self.clock.now()
        session.add(InboundEvent(platform=inbound.platform, event_key=inbound.event_key[:191],
                                 kind=str(inbound.kind), person_id=person.id if person else None,
                                 received_at=now, processed_at=now))
        session.flush()  # a retry fails here, before any work is done

    def _dispatch_once(self, inbound: Inbound, base_key: str, *, send_after: bool) -> DispatchResult:
        with self.db.unit_of_work() as session:
            person = resolve_person(session, inbound.platform, inbound.user_id)
            self._record(session, inbound, person)
            return self._handle(session, inbound, person, base_key, send_after=send_after)

    def _handle(self, session: Session, inbound: Inbound, person: Person | None, base_key: str, *,
                send_after: bool) -> DispatchResult:
        """Run the handler and write its replies; `send_after`: the caller sends them after the commit."""
        ctx = Context(session=session, settings=self.settings, clock=self.clock,
                      renderer=template_overrides(session), person=person, inbound=inbound)
        route_name, result = self._run(ctx, inbound)
        now = self.clock.now()
        if send_after and self.outbox is not None:
            keys, claimed = self.outbox.enqueue_claimed(session, result.messages, base_key=base_key, now=now)
            return DispatchResult(keys=tuple(keys), form_errors=result.form_errors, route=route_name,
                                  claimed=tuple(claimed))
        keys = enqueue(session, result.messages, base_key=base_key, settings=self.settings, now=now)
        return DispatchResult(keys=tuple(keys), form_errors=result.form_errors, route=route_name)

    # -- acknowledge first, handle after ---------------------------------------------------
    def receive(self, inbound: Inbound) -> int | None:
        """Store the event so that it is safe to acknowledge; return its id, or None for a retry.

        Nothing is handled yet: call `process(event_id, inbound)` after the acknowledgement. If this
        process dies in between, `process_stale()` (run by the outbox worker) handles it later.
        """
        _strip_nul(inbound)
        row = {"platform": inbound.platform, "event_key": inbound.event_key[:191], "kind": str(inbound.kind),
               "received_at": self.clock.now(), "payload": inbound.to_json()}
        receipt = self._receipt
        if receipt is None or receipt.engine is not self.db.engine:
            receipt = self._receipt = Receipt(self.db.engine)
        try:
            return receipt.store(row)
        except receipt.duplicate:
            log.info("duplicate platform=%s key=%s", inbound.platform, inbound.event_key)
            return None

    def process(self, event_id: int, inbound: Inbound, *, deliver: bool = True) -> DispatchResult:
        """Handle a received event exactly once (whoever claims it first), then deliver the replies."""
        started = time.perf_counter()
        base_key = f"in:{inbound.platform}:{inbound.event_key}"
        try:
            result = self._process_once(event_id, inbound, base_key, send_after=deliver)
        except Exception:
            log.exception("handler failed platform=%s key=%s", inbound.platform, inbound.event_key)
            result = self._internal_error(inbound, base_key, event_id=event_id)
        self._finish(inbound, result, started, deliver)
        return result

    def _claim(self, session: Session, event_id: int, person: Person | None) -> bool:
        claimed = session.execute(
            update(InboundEvent)
            .where(InboundEvent.id == event_id, InboundEvent.processed_at.is_(None))
            .values(processed_at=self.clock.now(), payload=None, person_id=person.id if person else None)
        )
        return bool(claimed.rowcount)

    def _process_once(self, event_id: int, inbound: Inbound, base_key: str, *, send_after: bool) -> DispatchResult:
        with self.db.unit_of_work() as session:
            without_waiting_for_disk(session)  # the receipt is durable: a lost handling is redone
            person = resolve_person(session, inbound.platform, inbound.user_id)
            if not self._claim(session, event_id, person):
                return DispatchResult(duplicate=True)
            return self._handle(session, inbound, person, base_key, send_after=send_after)

    def process_stale(self, *, older_than_seconds: float = 15.0, limit: int = 100) -> int:
        """Handle events stored but never handled (their process died after the ack); return how many."""
        cutoff = self.clock.now() - timedelta(seconds=older_than_seconds)
        with self.db.unit_of_work() as session:
            rows = session.execute(
                select(InboundEvent.id, InboundEvent.payload)
                .where(InboundEvent.processed_at.is_(None), InboundEvent.received_at < cutoff)
                .order_by(InboundEvent.id).limit(limit)
            ).all()
        done = 0
        for event_id, payload in rows:
            try:
                inbound = Inbound.from_json(payload or "")
            except (ValueError, TypeError, KeyError):
                log.error("inbound event %d cannot be read back; marking it handled", event_id)
                with self.db.unit_of_work() as session:
                    self._claim(session, event_id, None)
                continue
            if not self.process(event_id, inbound).duplicate:
                done += 1
        if done:
            log.info("handled %d inbound events left over from an earlier process", done)
        return done

    def run_handler(self, ctx: Context, inbound: Inbound) -> tuple[str, HandlerResult]:
        """Route one inbound in `ctx` and return (route name, what it answers), writing no outbox rows.

        The dispatcher's own path; the console's template preview calls it in a rolled-back savepoint.
        """
        return self._run(ctx, inbound)

    def _run(self, ctx: Context, inbound: Inbound) -> tuple[str, HandlerResult]:
        if ctx.person is None:
            ctx.extra["locale"] = self.settings.org.locale
            text = ctx.renderer.render("not_in_org", self.settings.org.locale, user_id=inbound.user_id)
            reply = Outbound(to=ToTarget(inbound.platform, "user", inbound.user_id), text=text)
            return "not_in_org", HandlerResult([reply])
        if len(inbound.text) > MAX_INBOUND_CHARS:
            return "too_long", HandlerResult([ctx.reply("too_long", length=len(inbound.text),
                                                        limit=MAX_INBOUND_CHARS)])
        match = self.router.resolve(inbound)
        if match is None:
            if inbound.kind == InboundKind.COMMAND or inbound.text.lstrip().startswith("/"):
                return "unknown_command", HandlerResult([ctx.reply("unknown_command", text=inbound.text[:60])])
            if inbound.kind == InboundKind.ACTION:
                return "unknown_action", HandlerResult([ctx.reply("unknown_command", text="")])
            return "unknown", HandlerResult([ctx.reply("unknown_message")])
        route = match.route
        ctx.command, ctx.rest = match.command, match.rest
        if route.roles is not None and ctx.person.role not in route.roles:
            return route.name, HandlerResult([ctx.reply("forbidden", reason="role", command=route.name)])
        savepoint = ctx.session.begin_nested()
        try:
            out = route.handler(ctx)
            savepoint.commit()
        except UserFacingError as err:
            savepoint.rollback()
            return route.name, HandlerResult([ctx.reply(err.template, **err.variables)])
        result = out if isinstance(out, HandlerResult) else HandlerResult(list(out))
        return route.name, result

    def _internal_error(self, inbound: Inbound, base_key: str, *, event_id: int | None = None) -> DispatchResult:
        """Record the event and say sorry; never a stack trace in chat."""
        try:
            with self.db.unit_of_work() as session:
                person = resolve_person(session, inbound.platform, inbound.user_id)
                if event_id is None:
                    self._record(session, inbound, person)
                elif not self._claim(session, event_id, person):
                    return DispatchResult(duplicate=True)
                renderer = template_overrides(session)
                locale = self.settings.org.locale
                if person is not None:
                    from bot.core.context import person_locale

                    locale = person_locale(person, self.settings)
                text = renderer.render("error", locale)
                to = ToPerson(person.id, inbound.platform) if person else ToTarget(
                    inbound.platform, "user", inbound.user_id)
                keys = enqueue(session, [Outbound(to=to, text=text)], base_key=base_key,
                               settings=self.settings, now=self.clock.now())
            return DispatchResult(keys=tuple(keys), route="error")
        except IntegrityError:
            return DispatchResult(duplicate=True)
