"""The one delivery path: rows with unique keys, sent after commit, retried with backoff."""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.clock import Clock, SystemClock
from bot.core.db import Database
from bot.core.ports import Envelope, Port, SendResult
from bot.core.settings import Settings
from bot.core.types import Outbound, ToPerson, ToTarget, ToTeam
from models import Identity, OutboxMessage, OutboxStatus, Person, Team, TeamChat

log = logging.getLogger("salesbot.outbox")

# How a send ended, in the words `salesbot run-job` prints and `/metrics` counts
# (salesbot_outbox_sends_total{outcome=...}): sent; queued for retry (the outbox of `serve` or
# `scheduler` sends it again after the platform's Retry-After or a backoff); failed for good.
SENT = "sent"
QUEUED_FOR_RETRY = "queued_for_retry"
FAILED = "failed"

# session.info key: {(person_id, platform): targets} already known in this unit of work.
KNOWN_TARGETS = "salesbot_known_targets"
RECORD_BATCH = 25  # results stored per transaction by a concurrent sender
# A send the platform answered with "wait" (Slack's and Feishu's 429, DingTalk's 90018 and throttled
# recipients, WeCom's 45009) does not use up one of outbox.max_attempts: rate limits are waited out,
# however many rounds a big fan-out needs. For a day at most, so a limit that never lifts still ends.
RATE_LIMIT_PATIENCE = timedelta(days=1)


def without_waiting_for_disk(session: Session) -> None:
    """Let this transaction's commit return before it is flushed to disk (PostgreSQL only).

    Only for work that is redone if a crash loses it: handling an event whose receipt is already
    durable (Dispatcher.process_stale redoes it), and the outbox's claims and results (a lost one
    means a send is repeated, which at-least-once delivery allows). Saves an fsync per commit; a
    crash can lose at most the last few hundred milliseconds of such commits, never corrupt.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


def person_targets(session: Session, person_id: int, platform: str | None, enabled: Sequence[str]) -> list[
        tuple[str, str, str]]:
    """Return (platform, kind, target) for a person: one platform, or every enabled one."""
    known = session.info.get(KNOWN_TARGETS, {}).get((person_id, platform)) if platform else None
    if known is not None:  # the sender of the inbound event being handled: resolved with the person
        return list(known)
    wanted = [platform] if platform else list(enabled)
    out: list[tuple[str, str, str]] = []
    if "console" in wanted:
        code = session.scalar(select(Person.code).where(Person.id == person_id))
        if code:
            out.append(("console", "user", code))
    others = [p for p in wanted if p != "console"]
    if others:
        rows = session.execute(
            select(Identity.platform, Identity.external_id, Identity.dm_channel)
            .where(Identity.person_id == person_id, Identity.platform.in_(others))
        ).all()
        for plat, ext, dm in rows:
            out.append((plat, "user", dm if plat == "slack" and dm else ext))
    return out


def team_targets(session: Session, team_id: int, enabled: Sequence[str]) -> list[tuple[str, str, str]]:
    """Return (platform, kind, target) for every chat of a team on an enabled platform (oldest first)."""
    out: list[tuple[str, str, str]] = []
    others = [p for p in enabled if p != "console"]
    if others:
        out.extend((p, k, t) for p, k, t in session.execute(
            select(TeamChat.platform, TeamChat.kind, TeamChat.target)
            .where(TeamChat.team_id == team_id, TeamChat.platform.in_(others))
            .order_by(TeamChat.id)))
    if "console" in enabled:
        team = session.get(Team, team_id)
        if team is not None:
            out.append(("console", "channel", team.code))
    return out


def _target_suffixes(targets: Sequence[tuple[str, str, str]]) -> list[str]:
    """Return each target's key suffix: `:platform` for a lone target, else `:platform:kind`.

    A second target of the same platform and kind (a team with two Slack channels) also gets a
    short digest of its address, so each keeps its own stable key.
    """
    if len(targets) == 1:
        return [f":{targets[0][0]}"]
    seen: set[tuple[str, str]] = set()
    out = []
    for platform, kind, target in targets:
        suffix = f":{platform}:{kind}"
        if (platform, kind) in seen:
            suffix += ":" + hashlib.sha1(target.encode(), usedforsecurity=False).hexdigest()[:10]
        seen.add((platform, kind))
        out.append(suffix)
    return out


def _people_targets(session: Session, person_ids: list[int], enabled: Sequence[str]) -> dict[
        int, list[tuple[str, str, str]]]:
    """Return person_targets(..., platform=None) for many people in a few queries (job fan-outs)."""
    if len(person_ids) < 2:
        return {}
    ids = list(dict.fromkeys(person_ids))
    out: dict[int, list[tuple[str, str, str]]] = {pid: [] for pid in ids}
    others = [p for p in enabled if p != "console"]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        if "console" in enabled:
            for pid, code in session.execute(select(Person.id, Person.code).where(Person.id.in_(chunk))):
                if code:
                    out[pid].append(("console", "user", code))
        if others:
            for pid, plat, ext, dm in session.execute(
                    select(Identity.person_id, Identity.platform, Identity.external_id, Identity.dm_channel)
                    .where(Identity.person_id.in_(chunk), Identity.platform.in_(others))):
                out[pid].append((plat, "user", dm if plat == "slack" and dm else ext))
    return out


def rows_for(session: Session, messages: Iterable[Outbound], *, base_key: str, enabled: Sequence[str],
             now: datetime) -> list[dict[str, Any]]:
    """Expand messages to one outbox row per platform target, each with a unique key."""
    return [row for _, row in _rows_by_message(session, list(messages), base_key=base_key, enabled=enabled,
                                               now=now)]


def _rows_by_message(session: Session, messages: list[Outbound], *, base_key: str, enabled: Sequence[str],
                     now: datetime) -> list[tuple[Outbound, dict[str, Any]]]:
    """rows_for(), each row with the message it came from."""
    rows: list[tuple[Outbound, dict[str, Any]]] = []
    everywhere = _people_targets(session, [m.to.person_id for m in messages
                                           if isinstance(m.to, ToPerson) and m.to.platform is None], enabled)
    for index, msg in enumerate(messages):
        key = msg.key or f"{base_key}:{index}"
        to = msg.to
        person_id: int | None = None
        if isinstance(to, ToPerson):
            if to.platform is None and to.person_id in everywhere:
                targets = everywhere[to.person_id]
            else:
                targets = person_targets(session, to.person_id, to.platform, enabled)
            person_id = to.person_id
        elif isinstance(to, ToTeam):
            targets = team_targets(session, to.team_id, enabled)
        elif isinstance(to, ToTarget):
            targets = [(to.platform, to.kind, to.target)]
        else:  # pragma: no cover - the Recipient union is closed
            raise TypeError(to)
        payload = msg.payload()
        for (platform, kind, target), suffix in zip(targets, _target_suffixes(targets), strict=True):
            rows.append((msg, {
                "key": (key + suffix)[:191],
                "platform": platform,
                "target_kind": kind,
                "target": target,
                "person_id": person_id,
                "payload": payload,
                "update_of": (msg.update_of + suffix)[:191] if msg.update_of else None,
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }))
    return rows


def insert_ignore(session: Session, rows: list[dict[str, Any]]) -> list[str]:
    """Insert outbox rows, skipping keys that exist; return the keys now in the table."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    table = OutboxMessage.__table__
    if dialect in ("postgresql", "sqlite"):
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt_factory = pg_insert if dialect == "postgresql" else sqlite_insert
        for start in range(0, len(rows), 500):
            chunk = rows[start:start + 500]
            session.execute(stmt_factory(table).on_conflict_do_nothing(index_elements=["key"]), chunk)
    elif dialect in ("mysql", "mariadb"):
        for start in range(0, len(rows), 500):
            chunk = rows[start:start + 500]
            session.execute(insert(table).prefix_with("IGNORE"), chunk)
    else:  # pragma: no cover - other backends: one savepoint per row
        for row in rows:
            try:
                with session.begin_nested():
                    session.execute(insert(table), [row])
            except IntegrityError:
                pass
    return [r["key"] for r in rows]


def enqueue(session: Session, messages: Iterable[Outbound], *, base_key: str, settings: Settings,
            now: datetime) -> list[str]:
    """Add messages to the outbox in the caller's transaction; return their keys."""
    rows = rows_for(session, messages, base_key=base_key, enabled=settings.platforms, now=now)
    return insert_ignore(session, rows)


_OUTBOX = OutboxMessage.__table__


MARK_SENT_ROWS = 25  # rows per statement in _mark_sent (one cached statement per size up to this)


@functools.cache
def _mark_sent_statement(rows: int) -> Any:
    """UPDATE `rows` rows by key to sent, each keeping its own platform message id (k0.., c0.., i0..)."""
    t = _OUTBOX.c
    keys = [bindparam(f"k{i}", type_=t.key.type) for i in range(rows)]
    channel = case(*[(keys[i], bindparam(f"c{i}", type_=t.ref_channel.type)) for i in range(rows)], value=t.key)
    ref_id = case(*[(keys[i], bindparam(f"i{i}", type_=t.ref_id.type)) for i in range(rows)], value=t.key)
    return (update(_OUTBOX).where(t.key.in_(keys))
            .values(status=OutboxStatus.SENT, sent_at=bindparam("now", type_=t.sent_at.type), lease_until=None,
                    last_error=None, ref_channel=func.coalesce(channel, t.ref_channel),
                    ref_id=func.coalesce(ref_id, t.ref_id)))


def _mark_sent(s: Session, results: Sequence[tuple[Envelope, SendResult]], now: datetime) -> None:
    """Store a batch of plain successful sends with one UPDATE per MARK_SENT_ROWS rows.

    One statement, not one per row: with sixteen threads sending, each statement the database
    driver runs waits for its turn at the interpreter again (SQLite's executemany: once per row).
    """
    for start in range(0, len(results), MARK_SENT_ROWS):
        chunk = results[start:start + MARK_SENT_ROWS]
        params: dict[str, Any] = {"now": now}
        for i, (env, res) in enumerate(chunk):
            params[f"k{i}"], params[f"c{i}"], params[f"i{i}"] = env.key, res.ref_channel or None, res.ref_id or None
        s.execute(_mark_sent_statement(len(chunk)), params)


class Outbox:
    """Deliver outbox rows through the platform ports; safe with several senders at once."""

    def __init__(self, db: Database, ports: Mapping[str, Port], settings: Settings,
                 clock: Clock | None = None) -> None:
        self.db = db
        self.ports = dict(ports)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.sent_callbacks: list[Any] = []
        # SQLite has one writer: concurrent senders queue here instead of in its busy handler's sleeps.
        self._record_lock = threading.Lock() if db.backend == "sqlite" else None

    # -- claiming -----------------------------------------------------------------------
    def _claim(self, *, keys: Sequence[str] | None, limit: int) -> list[Envelope]:
        now = self.clock.now()
        lease = now + timedelta(seconds=self.settings.outbox.lease_seconds)
        t = _OUTBOX.c
        with self.db.unit_of_work() as s:
            without_waiting_for_disk(s)
            # Plain columns and one UPDATE for the lot, not ORM objects: a fan-out claims thousands.
            stmt = select(t.id, t.key, t.platform, t.target_kind, t.target, t.payload, t.person_id,
                          t.update_of).where(
                t.platform.in_(list(self.ports)),
                or_(
                    (t.status == OutboxStatus.PENDING) & (t.next_attempt_at <= now),
                    (t.status == OutboxStatus.SENDING) & (t.lease_until < now),
                ),
            )
            if keys is not None:
                stmt = stmt.where(t.key.in_(list(keys)))
            stmt = stmt.order_by(t.id).limit(limit)
            if self.db.backend != "sqlite":
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list(s.execute(stmt))
            claimed = []
            for row in rows:
                wait = self._pace(s, row, now)
                if wait is not None:
                    s.execute(update(_OUTBOX).where(t.id == row.id).values(next_attempt_at=wait))
                    continue
                claimed.append(row)
                if row.platform == "wecom" and row.target_kind == "user":
                    # The next row's pacing counts this one as on its way.
                    s.execute(update(_OUTBOX).where(t.id == row.id).values(status=OutboxStatus.SENDING,
                                                                           lease_until=lease))
            ids = [row.id for row in claimed]
            for start in range(0, len(ids), 500):
                s.execute(update(_OUTBOX).where(t.id.in_(ids[start:start + 500]))
                          .values(status=OutboxStatus.SENDING, lease_until=lease, attempts=t.attempts + 1))
            replaced = self._replaced(s, [row.update_of for row in claimed if row.update_of])
            return [self._envelope(row, replaced.get(row.update_of)) for row in claimed]

    def _pace(self, s: Session, row: Any, now: datetime) -> datetime | None:
        """Return when to retry if sending now would pass the platform's per-member limit.

        WeCom counts messages, not outbox rows: a text with a chart, or a long text, is several
        message/send calls, so each row counts as many as its port will send.
        """
        if row.platform != "wecom" or row.target_kind != "user":
            return None
        limit = self.settings.wecom.per_member_per_minute
        since = now - timedelta(seconds=60)
        recent = s.execute(
            select(OutboxMessage.key, OutboxMessage.target_kind, OutboxMessage.payload, OutboxMessage.sent_at)
            .where(
                OutboxMessage.platform == "wecom", OutboxMessage.target == row.target,
                # Rows claimed in this same batch are SENDING with no sent_at yet: count them too.
                or_(OutboxMessage.sent_at >= since, OutboxMessage.status == OutboxStatus.SENDING),
                OutboxMessage.status.in_([OutboxStatus.SENT, OutboxStatus.SENDING]),
            )
        ).all()
        if not recent:
            return None
        need = self._messages(row.key, row.target_kind, row.target, row.payload)
        sizes = [(sent_at or now, self._messages(key, kind, row.target, payload))
                 for key, kind, payload, sent_at in recent]
        used = sum(n for _, n in sizes)
        if used + need <= limit:
            return None
        # Wait until enough of the window's messages have left it (a message still in flight leaves last).
        for sent_at, n in sorted(sizes, key=lambda p: p[0]):
            used -= n
            if used + need <= limit:
                return sent_at + timedelta(seconds=61)
        return now + timedelta(seconds=61)

    def _messages(self, key: str, kind: str, target: str, payload: dict[str, Any]) -> int:
        """Return how many messages a row sends its recipient (1 unless its port can say)."""
        count = getattr(self.ports.get("wecom"), "messages_in", None)
        if count is None:
            return 1
        return int(count(Envelope(key=key, platform="wecom", target_kind=kind, target=target, payload=payload)))

    @staticmethod
    def _replaced(s: Session, keys: list[str]) -> dict[str, Any]:
        """The rows that messages being sent replace, by key (their platform ids, response codes)."""
        if not keys:
            return {}
        t = _OUTBOX.c
        return {row.key: row for row in s.execute(
            select(t.key, t.ref_channel, t.ref_id, t.response_code, t.response_code_at).where(t.key.in_(keys)))}

    @staticmethod
    def _envelope(row: Any, prev: Any) -> Envelope:
        return Envelope(
            key=row.key, platform=row.platform, target_kind=row.target_kind, target=row.target,
            payload=row.payload, person_id=row.person_id,
            update_channel=prev.ref_channel if prev is not None else None,
            update_id=prev.ref_id if prev is not None else None,
            update_response_code=prev.response_code if prev is not None else None,
            update_response_code_at=prev.response_code_at if prev is not None else None,
        )

    def enqueue_claimed(self, session: Session, messages: Iterable[Outbound], *, base_key: str,
                        now: datetime) -> tuple[list[str], list[Envelope]]:
        """enqueue() for replies that are sent right after the caller commits (send_claimed).

        A reply keyed only by the event it answers (no key of its own, which could already be in
        the table, and no message it replaces) is written already claimed, SENDING under a lease
        like _claim() would leave it, so sending it needs no second transaction. If this process
        dies before sending, the lease runs out and any sender picks it up. Rows WeCom paces per
        member, and rows on a platform this outbox does not send, are written PENDING as enqueue()
        writes them and go out through deliver().
        """
        pairs = _rows_by_message(session, list(messages), base_key=base_key, enabled=self.settings.platforms,
                                 now=now)
        lease = now + timedelta(seconds=self.settings.outbox.lease_seconds)
        claimed: list[Envelope] = []
        for msg, row in pairs:
            if (msg.key is None and msg.update_of is None and row["platform"] in self.ports
                    and not (row["platform"] == "wecom" and row["target_kind"] == "user")):
                row.update(status=OutboxStatus.SENDING, lease_until=lease, attempts=1)
                claimed.append(Envelope(key=row["key"], platform=row["platform"], target_kind=row["target_kind"],
                                        target=row["target"], payload=row["payload"], person_id=row["person_id"]))
        rows = [row for _, row in pairs]
        if claimed:  # executemany needs one shape: every row names every column
            for row in rows:
                row.setdefault("lease_until", None)
        return insert_ignore(session, rows), claimed

    # -- sending ------------------------------------------------------------------------
    def claim(self, keys: Sequence[str]) -> list[Envelope]:
        """Claim these rows for sending (those due and not paced); send them with send_claimed()."""
        return self._claim(keys=keys, limit=len(keys)) if keys else []

    def send_claimed(self, envelopes: Sequence[Envelope]) -> tuple[int, int]:
        """Send rows claimed by claim(), or written by enqueue_claimed() once its transaction has committed."""
        if not envelopes:
            return 0, 0
        ok_count = self._send_batch(list(envelopes))
        return ok_count, len(envelopes) - ok_count

    def deliver(self, keys: Sequence[str] | None = None, *, limit: int = 200) -> tuple[int, int]:
        """Send what is due (only `keys` if given); return (sent, failed)."""
        sent = failed = 0
        while True:
            batch = self._claim(keys=keys, limit=limit)
            if not batch:
                return sent, failed
            ok_count = self._send_batch(batch)
            sent += ok_count
            failed += len(batch) - ok_count
            if keys is not None:
                return sent, failed

    def _send_batch(self, batch: list[Envelope]) -> int:
        """Send a claimed batch, `outbox.concurrency` targets at a time; one target's messages stay in order."""
        groups: dict[tuple[str, str], list[Envelope]] = {}
        for env in batch:
            groups.setdefault((env.platform, env.target), []).append(env)
        workers = min(self.settings.outbox.concurrency, len(groups))
        if workers <= 1:
            return sum(self._send_one(env) for env in batch)
        from concurrent.futures import ThreadPoolExecutor

        done: list[tuple[Envelope, SendResult]] = []
        ready = threading.Condition()
        running = len(groups)

        def send_group(envs: list[Envelope]) -> None:
            nonlocal running
            try:
                for env in envs:
                    result = self._attempt(env)
                    with ready:
                        done.append((env, result))
                        if len(done) >= RECORD_BATCH:
                            ready.notify()
            finally:
                with ready:
                    running -= 1
                    ready.notify()

        # Senders only talk to the platform; this thread records their results RECORD_BATCH rows per
        # transaction (a crash in between can repeat at most those few sends, never lose one), and
        # wakes up once per batch, not once per message.
        ok = 0
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="outbox-send") as pool:
            futures = [pool.submit(send_group, envs) for envs in groups.values()]
            while True:
                with ready:
                    ready.wait_for(lambda: len(done) >= RECORD_BATCH or running == 0)
                    results, done[:] = list(done), []
                    finished = running == 0
                if results:
                    ok += self._record_many(results)
                if finished:
                    break
            for future in futures:
                future.result()
        return ok

    def _attempt(self, env: Envelope) -> SendResult:
        port = self.ports[env.platform]
        try:
            return port.send(env)
        except Exception as exc:  # a port bug or a network error: retry later, never crash the caller
            log.warning("send failed key=%s platform=%s error=%s", env.key, env.platform, type(exc).__name__)
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])

    def _send_one(self, env: Envelope) -> bool:
        result = self._attempt(env)
        self._record_many([(env, result)])
        return result.ok

    def _record_many(self, results: Sequence[tuple[Envelope, SendResult]]) -> int:
        """Store how each send went, in one transaction; return how many were sent."""
        if self._record_lock is not None:
            with self._record_lock:
                return self._record_rows(results)
        return self._record_rows(results)

    def _record_rows(self, results: Sequence[tuple[Envelope, SendResult]]) -> int:
        now = self.clock.now()
        # The common case, sent with nothing more to keep than the platform's message id, is one
        # UPDATE per row by key; the rest (retries, give-ups, WeCom response codes) goes through the ORM.
        plain = [(env, res) for env, res in results if res.ok and not res.response_code]
        other = [(env, res) for env, res in results if not (res.ok and not res.response_code)]
        with self.db.unit_of_work() as s:
            without_waiting_for_disk(s)
            if plain:
                _mark_sent(s, plain, now)
                for env, _ in plain:
                    log.info("sent key=%s platform=%s kind=%s", env.key, env.platform, env.target_kind)
                    self._notify(env.platform, SENT)
            if other:
                rows = {r.key: r for r in s.scalars(
                    select(OutboxMessage).where(OutboxMessage.key.in_([env.key for env, _ in other])))}
                for env, result in other:
                    row = rows.get(env.key)
                    if row is not None:
                        self._apply(row, env, result, now)
        return sum(1 for _, result in results if result.ok)

    def _apply(self, row: OutboxMessage, env: Envelope, result: SendResult, now: datetime) -> None:
        for event in result.extra.get("events") or ():  # what a port wants counted: quota, timeout_retry...
            self._notify(env.platform, str(event))
        if result.ok:
            row.status = OutboxStatus.SENT
            row.sent_at = now
            row.lease_until = None
            row.last_error = None
            row.ref_channel = result.ref_channel or row.ref_channel
            row.ref_id = result.ref_id or row.ref_id
            if result.response_code:
                row.response_code = result.response_code
                row.response_code_at = now
            log.info("sent key=%s platform=%s kind=%s attempts=%d", env.key, env.platform,
                     env.target_kind, row.attempts)
            self._notify(env.platform, SENT)
            return
        row.last_error = (result.error or "error")[:500]
        row.lease_until = None
        told_to_wait = result.retry_after is not None and not result.permanent
        if told_to_wait and row.attempts > 0 and now - utc(row.created_at) < RATE_LIMIT_PATIENCE:
            row.attempts -= 1  # not a failed try: the platform asked us to come back later
        if result.permanent or row.attempts >= self.settings.outbox.max_attempts:
            row.status = OutboxStatus.DEAD
            log.error("gave up key=%s platform=%s error=%s", env.key, env.platform, row.last_error)
            self._notify(env.platform, FAILED)
            return
        row.status = OutboxStatus.PENDING
        row.next_attempt_at = now + timedelta(seconds=self._backoff(row.attempts, result.retry_after))
        log.info("retry key=%s platform=%s attempt=%d error=%s", env.key, env.platform, row.attempts,
                 row.last_error)
        self._notify(env.platform, QUEUED_FOR_RETRY)

    def _notify(self, platform: str, outcome: str) -> None:
        """Tell each sent callback (metrics) how a send went: SENT, QUEUED_FOR_RETRY, FAILED (or a port's event)."""
        for callback in self.sent_callbacks:
            try:
                callback(platform, outcome)
            except Exception:  # metrics must never break delivery
                log.exception("sent callback failed")

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        base = self.settings.outbox.base_backoff_seconds
        return min(300.0, base * (2 ** (attempts - 1))) * (0.5 + random.random() / 2)

    def states(self, keys: Sequence[str]) -> dict[str, RowState]:
        """Return where each of these rows stands (rows not in the table are left out)."""
        t = _OUTBOX.c
        out: dict[str, RowState] = {}
        with self.db.unit_of_work() as s:
            for start in range(0, len(keys), 500):
                for key, status, due, lease, error in s.execute(
                        select(t.key, t.status, t.next_attempt_at, t.lease_until, t.last_error)
                        .where(t.key.in_(list(keys[start:start + 500])))):
                    when = lease if status == OutboxStatus.SENDING else due
                    out[key] = RowState(status, utc(when) if when is not None else None, error)
        return out

    def backlog(self) -> int:
        with self.db.unit_of_work() as s:
            return s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))) or 0

    def release_stuck(self) -> int:
        """Make rows whose lease ran out (a sender died) due again."""
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            res = s.execute(update(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.lease_until < now,
            ).values(status=OutboxStatus.PENDING, next_attempt_at=now))
            return int(res.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RowState:
    """Where one outbox row stands: its status, when it may next be tried, its last error."""

    status: str
    due_at: datetime | None  # pending: its next attempt (Retry-After, backoff); sending: when its lease ends
    last_error: str | None

    @property
    def outcome(self) -> str:
        """SENT, FAILED (for good) or QUEUED_FOR_RETRY (pending, or being sent)."""
        if self.status == OutboxStatus.SENT:
            return SENT
        if self.status == OutboxStatus.DEAD:
            return FAILED
        return QUEUED_FOR_RETRY


_ERROR_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"ratelimited|rate.?limit|\b429\b|errcode 450(09|33)|throttl", re.I),
     "rate limited by the platform"),
    (re.compile(r"\bhttp_5\d\d\b|\b5\d\d\b|fatal_error|internal_error|service_unavailable|busy", re.I),
     "the platform had a server error"),
    (re.compile(r"timeout|timed out|ConnectError|ConnectionError|RemoteProtocolError|unreachable", re.I),
     "could not reach the platform"),
    (re.compile(r"invalid_auth|not_authed|token_revoked|account_inactive|errcode 4001[34]|errcode 42001|"
                r"errcode 40001|missing_scope", re.I),
     "the platform refused our credentials"),
    (re.compile(r"channel_not_found|not_in_channel|user_not_found|invalid recipient|is_archived|"
                r"errcode 8200[1-4]|errcode 6011[1-2]|errcode 86", re.I),
     "the recipient or chat is not reachable"),
)


def describe_error(error: str | None) -> str:
    """Say a stored send error in words for an operator, with the platform's own words after it."""
    raw = (error or "").strip()
    if not raw:
        return "no error recorded"
    for pattern, words in _ERROR_WORDS:
        if pattern.search(raw):
            return f"{words} ({raw})"
    return raw


def utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
