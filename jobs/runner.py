"""Run a job for each team: claim (job, team, business day) in the same transaction as the sends."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.clock import Clock, FixedClock
from bot.core.context import Context, team_zone, template_overrides
from bot.core.db import Database
from bot.core.outbox import Outbox, enqueue
from bot.core.rendering import Renderer
from bot.core.settings import Settings
from bot.core.types import Outbound
from jobs.base import JobContext, JobResult
from jobs.schedule import JOBS, JobSpec
from models import JobRun, Team
from services.calendar import WorkCalendar, load_calendar

log = logging.getLogger("salesbot.jobs")

DELIVER_CHUNK = 2000  # outbox rows claimed and sent per round of a fan-out


class UnknownJob(ValueError):
    """No job has that name."""


class UnknownTeam(ValueError):
    """No team has that code."""


@dataclass
class TeamOutcome:
    """What happened for one team."""

    team: str
    day: date
    status: str  # "sent" | "skipped" | "error"
    reason: str = ""
    processed: int = 0
    enqueued: int = 0
    sent: int = 0
    failed: int = 0
    keys: list[str] = field(default_factory=list)


@dataclass
class Summary:
    """What a job run did, team by team."""

    job: str
    at: datetime
    teams: list[TeamOutcome] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(t.sent for t in self.teams)

    @property
    def failed(self) -> int:
        return sum(t.failed for t in self.teams)

    @property
    def enqueued(self) -> int:
        return sum(t.enqueued for t in self.teams)

    @property
    def ran(self) -> list[TeamOutcome]:
        return [t for t in self.teams if t.status == "sent"]

    @property
    def skipped(self) -> list[TeamOutcome]:
        return [t for t in self.teams if t.status != "sent"]

    def line(self) -> str:
        """Return a one-line summary: teams, sent, failed, skipped and why."""
        parts = [f"{self.job}: {len(self.teams)} team(s), {len(self.ran)} ran, "
                 f"{self.sent} sent, {self.failed} failed"]
        queued = self.enqueued - self.sent - self.failed
        if queued > 0:
            parts.append(f"{queued} queued for retry")
        if self.skipped:
            reasons: dict[str, list[str]] = {}
            for t in self.skipped:
                reasons.setdefault(t.reason, []).append(f"{t.team} {t.day.isoformat()}")
            parts.append("skipped " + "; ".join(f"{', '.join(v)} ({k})" for k, v in reasons.items()))
        return ", ".join(parts)


Progress = Callable[[int, int], None]  # (done, total) for one team's deliveries


def run_job(*, db: Database, settings: Settings, clock: Clock, name: str,
            team_codes: Sequence[str] | None = None, at: datetime | None = None,
            outbox: Outbox | None = None, progress: Callable[[str, int], Progress] | None = None) -> Summary:
    """Run job `name` for each team (or those listed) as if the clock read `at`; deliver with `outbox`."""
    spec = JOBS.get(name)
    if spec is None:
        raise UnknownJob(f"unknown job {name!r}; the jobs are: {', '.join(JOBS)}")
    moment = at if at is not None else clock.now()
    if moment.tzinfo is None:
        raise ValueError("run_job needs an aware time")
    with db.unit_of_work() as s:
        stmt = select(Team.id, Team.code).order_by(Team.code)
        teams = list(s.execute(stmt).all())
    if team_codes is not None:
        known = {code for _, code in teams}
        missing = [c for c in team_codes if c not in known]
        if missing:
            raise UnknownTeam(f"unknown team {', '.join(map(repr, missing))}; the teams are: "
                              f"{', '.join(sorted(known)) or '(none yet)'}")
        teams = [t for t in teams if t[1] in set(team_codes)]
    summary = Summary(job=name, at=moment)
    for team_id, code in teams:
        outcome = _run_team(db=db, settings=settings, spec=spec, team_id=team_id, code=code, moment=moment,
                            created=clock.now())
        summary.teams.append(outcome)
        if outcome.keys and outbox is not None:
            tick = progress(code, len(outcome.keys)) if progress is not None else None
            outcome.sent, outcome.failed = deliver_keys(outbox, outcome.keys, tick)
    log.info("job %s at %s: %s", name, moment.isoformat(), summary.line())
    return summary


def deliver_keys(outbox: Outbox, keys: Sequence[str], tick: Progress | None = None) -> tuple[int, int]:
    """Deliver these outbox keys in chunks; what fails stays in the outbox for the retry worker.

    The next chunk is claimed while this one is being sent (a fan-out's senders never wait for a
    claim); a chunk is sent only after the one before it, so one person's messages keep their order.
    """
    chunks = [keys[start:start + DELIVER_CHUNK] for start in range(0, len(keys), DELIVER_CHUNK)]
    sent = failed = done = 0
    if len(chunks) <= 1:  # most teams: nothing to claim ahead of, so no thread for it
        for chunk in chunks:
            sent, failed = outbox.send_claimed(outbox.claim(chunk))
            if tick is not None:
                tick(len(chunk), len(keys))
        return sent, failed
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="claim-ahead") as ahead:
        claiming = ahead.submit(outbox.claim, chunks[0])
        for index, chunk in enumerate(chunks):
            batch = claiming.result()
            if index + 1 < len(chunks):
                claiming = ahead.submit(outbox.claim, chunks[index + 1])
            ok, bad = outbox.send_claimed(batch)
            sent += ok
            failed += bad
            done += len(chunk)
            if tick is not None:
                tick(done, len(keys))
    return sent, failed


def _run_team(*, db: Database, settings: Settings, spec: JobSpec, team_id: int, code: str,
              moment: datetime, created: datetime) -> TeamOutcome:
    # `moment` decides the business day and what the job sees as now; `created` is the real time of
    # the rows, so the outbox (on the real clock) sends them at once even for a run --at in the future.
    day = moment.date()
    try:
        with db.unit_of_work() as s:
            team = s.get(Team, team_id)
            assert team is not None
            day = moment.astimezone(team_zone(team, settings)).date()
            calendar = load_calendar(s, settings.org.holidays)
            why = spec.runs_on(day, is_workday=calendar.is_workday(day),
                               first_of_week=calendar.is_first_workday_of_week(day))
            if why is not None:
                return TeamOutcome(code, day, "skipped", why)
            if _claimed(s, spec.name, team_id, day):
                return TeamOutcome(code, day, "skipped", "already sent")
            # The claim first: a concurrent run blocks on this row and then fails on its unique key.
            run = JobRun(job=spec.name, team_id=team_id, day=day, created_at=created)
            s.add(run)
            s.flush()
            result, messages = job_messages(session=s, settings=settings, spec=spec, team=team, day=day,
                                            moment=moment, calendar=calendar)
            keys = enqueue(s, messages, base_key=f"job:{spec.name}:{code}:{day.isoformat()}",
                           settings=settings, now=created)
            run.processed = result.processed
            run.enqueued = len(keys)
            s.flush()
        return TeamOutcome(code, day, "sent", processed=result.processed, enqueued=len(keys), keys=keys)
    except IntegrityError:
        with db.unit_of_work() as s:
            if _claimed(s, spec.name, team_id, day):
                return TeamOutcome(code, day, "skipped", "already sent")
        log.exception("job %s for team %s on %s failed", spec.name, code, day)
        return TeamOutcome(code, day, "error", "error (see the log)")
    except Exception:  # one team's failure must not stop the others; nothing of it was written
        log.exception("job %s for team %s on %s failed", spec.name, code, day)
        return TeamOutcome(code, day, "error", "error (see the log)")


def job_messages(*, session: Session, settings: Settings, spec: JobSpec, team: Team, day: date, moment: datetime,
                 calendar: WorkCalendar | None = None, renderer: Renderer | None = None) -> tuple[JobResult, list[Outbound]]:
    """Build what a job sends for one team and day, without claiming or sending anything.

    The runner enqueues these messages; the console's template preview calls it in a rolled-back
    savepoint with a renderer that captures a template's variables (the same data the job would use).
    """
    ctx = Context(session=session, settings=settings, clock=FixedClock(moment),
                  renderer=renderer if renderer is not None else template_overrides(session))
    jctx = JobContext(job=spec.name, ctx=ctx, now=moment,
                      calendar=calendar if calendar is not None else load_calendar(session, settings.org.holidays))
    result = spec.function()(jctx, team=team, day=day)
    return result, jctx.messages


def _claimed(session: Any, job: str, team_id: int, day: date) -> bool:
    return session.scalar(select(JobRun.id).where(
        JobRun.job == job, JobRun.team_id == team_id, JobRun.day == day)) is not None
