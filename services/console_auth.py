"""Web console sign-in: one-time links from chat, sessions in a table, limits counted in the database.

Tokens and session ids are `secrets.token_urlsafe(32)`; only their SHA-256 is stored. A link is
spent by one atomic UPDATE, so two taps (or two replicas) cannot both use it. A session remembers a
fingerprint of the person's role, regions and active flag; when any of them changes, the session
ends at its next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.core.settings import Settings
from models import ConsoleFailure, ConsoleLink, ConsoleSession, Person
from services.scope import managed_region_ids

__all__ = [
    "FAILURE_LIMIT",
    "LINK_LIMIT",
    "Signed",
    "end_session",
    "end_sessions_of",
    "issue_link",
    "load_session",
    "peek_link",
    "record_failure",
    "redeem_link",
    "start_session",
    "too_many_failures",
]

# At most this many links per person within one link lifetime (console.link_minutes).
LINK_LIMIT = 5
# At most this many failed redemptions per address within FAILURE_WINDOW.
FAILURE_LIMIT = 20
FAILURE_WINDOW = timedelta(minutes=15)
# last_seen_at is written at most this often (a page view is not a write).
TOUCH_EVERY = timedelta(minutes=1)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def issue_link(*, session: Session, person: Person, platform: str, now: datetime,
               settings: Settings) -> str | None:
    """Store a new sign-in link for the person and return its token; None when they asked too often."""
    window = timedelta(minutes=settings.console.link_minutes)
    recent = session.scalar(select(func.count()).select_from(ConsoleLink).where(
        ConsoleLink.person_id == person.id, ConsoleLink.created_at > now - window)) or 0
    if recent >= LINK_LIMIT:
        return None
    token = secrets.token_urlsafe(32)
    session.add(ConsoleLink(token_hash=digest(token), person_id=person.id, platform=platform[:16],
                            created_at=now, expires_at=now + window))
    session.flush()
    return token


def peek_link(*, session: Session, token: str, now: datetime) -> Person | None:
    """Return whom a link would sign in (unused and unexpired), changing nothing."""
    if not _plausible(token):
        return None
    return session.scalar(
        select(Person).join(ConsoleLink, ConsoleLink.person_id == Person.id)
        .where(ConsoleLink.token_hash == digest(token), ConsoleLink.used_at.is_(None), ConsoleLink.expires_at > now,
               Person.active.is_(True)))


def redeem_link(*, session: Session, token: str, now: datetime) -> Person | None:
    """Spend a link (one atomic UPDATE) and return its person; None when used, expired or unknown."""
    if not _plausible(token):
        return None
    hashed = digest(token)
    spent = session.execute(
        update(ConsoleLink)
        .where(ConsoleLink.token_hash == hashed, ConsoleLink.used_at.is_(None), ConsoleLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        return None
    return session.scalar(select(Person).join(ConsoleLink, ConsoleLink.person_id == Person.id)
                          .where(ConsoleLink.token_hash == hashed, Person.active.is_(True)))


def _plausible(token: str) -> bool:
    return 20 <= len(token) <= 100


def record_failure(*, session: Session, address: str, now: datetime) -> None:
    session.add(ConsoleFailure(address=address[:64], created_at=now))
    session.flush()


def too_many_failures(*, session: Session, address: str, now: datetime) -> bool:
    """Whether this address has failed to redeem links too often lately."""
    count = session.scalar(select(func.count()).select_from(ConsoleFailure).where(
        ConsoleFailure.address == address[:64], ConsoleFailure.created_at > now - FAILURE_WINDOW)) or 0
    return count >= FAILURE_LIMIT


def fingerprint(session: Session, person: Person) -> str:
    """What a session depends on: the person's role, the regions they manage, and being active."""
    regions = ",".join(str(r) for r in managed_region_ids(session, person.id))
    return digest(f"{person.role}|{regions}|{int(bool(person.active))}")


@dataclass(frozen=True)
class Signed:
    """A live session: its person and CSRF token."""

    person: Person
    csrf_token: str
    cookie_id: str


def start_session(*, session: Session, person: Person, now: datetime, settings: Settings) -> Signed:
    """Start a new session (a new id at every sign-in) and clear out expired rows."""
    cookie_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(ConsoleSession(id_hash=digest(cookie_id), person_id=person.id, csrf_token=csrf,
                               fingerprint=fingerprint(session, person), created_at=now, last_seen_at=now,
                               expires_at=now + timedelta(hours=settings.console.session_hours)))
    _purge(session, now)
    session.flush()
    return Signed(person, csrf, cookie_id)


def _purge(session: Session, now: datetime) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    session.execute(delete(ConsoleLink).where(ConsoleLink.expires_at <= now - timedelta(days=1)))
    session.execute(delete(ConsoleFailure).where(ConsoleFailure.created_at <= now - FAILURE_WINDOW))


def load_session(*, session: Session, cookie_id: str | None, now: datetime, settings: Settings) -> Signed | None:
    """Return the live session behind a cookie; end it when expired, idle or the person changed."""
    if not cookie_id or not _plausible(cookie_id):
        return None
    row = session.get(ConsoleSession, digest(cookie_id))
    if row is None:
        return None
    person = session.get(Person, row.person_id)
    idle = timedelta(minutes=settings.console.idle_minutes)
    if (person is None or row.expires_at <= now or row.last_seen_at + idle <= now
            or row.fingerprint != fingerprint(session, person)):
        session.delete(row)
        session.flush()
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return Signed(person, row.csrf_token, cookie_id)


def end_session(*, session: Session, cookie_id: str | None) -> None:
    if cookie_id and _plausible(cookie_id):
        session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == digest(cookie_id)))


def end_sessions_of(*, session: Session, person_id: int) -> int:
    """End every console session of a person (call it when their role or regions change)."""
    return session.execute(delete(ConsoleSession).where(ConsoleSession.person_id == person_id)).rowcount or 0
