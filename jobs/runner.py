"""Run a job for each team: claim (job, team, business day) in the same transaction as the sends."""

from __future__ import annotations

import logging
import time
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
from bot.core.outbox import FAILED, QUEUED_FOR_RETRY, SENT, Outbox, RowState, describe_error, enqueue
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
    queued: int = 0  # still in the outbox: the outbox of `serve` or `scheduler` sends them after a wait
    failed: int = 0  # failed for good (the platform refused them, or they ran out of attempts)
    keys: list[str] = field(default_factory=list)
    errors: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # key -> (outcome, last error)

    def count(self, states: dict[str, RowState]) -> None:
        """Set sent / queued / failed (and the errors of those not sent) from the outbox rows' states."""
        self.sent = self.queued = self.failed = 0
        self.errors = {}
        for key in self.keys:
            state = states.get(key)
            outcome = state.outcome if state is not None else SENT  # a row gone from the table was sent
            if outcome == SENT:
                self.sent += 1
                continue
            if outcome == FAILED:
                self.failed += 1
            else:
                self.queued += 1
            self.errors[key] = (outcome, state.last_error if state is not None else None)


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
    def queued(self) -> int:
        return sum(t.queued for t in self.teams)

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
        """Return a one-line summary: teams, sent, queued for retry, failed for good, skipped and why."""
        parts = [f"{self.job}: {len(self.teams)} team(s), {len(self.ran)} ran, "
                 f"{self.sent} sent, {self.queued} queued for retry, {self.failed} failed"]
        if self.skipped:
            reasons: dict[str, list[str]] = {}
            for t in self.skipped:
                reasons.setdefault(t.reason, []).append(f"{t.team} {t.day.isoformat()}")
            parts.append("skipped " + "; ".join(f"{', '.join(v)} ({k})" for k, v in reasons.items()))
        return ", ".join(parts)


    def details(self) -> list[str]:
        """Return what was not sent, in words: how many are queued for retry and failed for good, and why."""
        out: list[str] = []
        for outcome, head in ((QUEUED_FOR_RETRY, "queued for retry"), (FAILED, "failed for good")):
            rows = [(t.team, error) for t in self.teams for o, error in t.errors.values() if o == outcome]
            if not rows:
                continue
            teams = sorted({team for team, _ in rows})
            last = rows[-1][1]
            why = describe_error(last) if last else "not tried yet: paced under the platform's per-recipient limit"
            line = f"  {head}: {len(rows)} ({', '.join(teams)}); last error: {why}"
            if outcome == QUEUED_FOR_RETRY:
                line += "; the outbox of `salesbot serve` or `salesbot scheduler` delivers them"
            out.append(line)
        return out


Progress = Callable[[int, int], None]  # (done, total) for one team's deliveries


def run_job(*, db: Database, settings: Settings, clock: Clock, name: str,
            team_codes: Sequence[str] | None = None, at: datetime | None = None,
            outbox: Outbox | None = None, progress: Callable[[str, int], Progress] | None = None,
            wait: float = 0.0, notice: Callable[[str], None] | None = None) -> Summary:
    """Run job `name` for each team (or those listed) as if the clock read `at`; deliver with `outbox`.

    Messages that could not be sent at once (a 429, a server error) stay queued in the outbox. With
    `wait` > 0 this call keeps delivering its own messages as they come due (after the platform's
    Retry-After or the backoff) for up to `wait` seconds; the summary counts what was sent, what is
    still queued for retry and what failed for good.
    """
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
            deliver_keys(outbox, outcome.keys, tick)
    keys = [key for t in summary.teams for key in t.keys]
    if keys and outbox is not None:
        states = settle(outbox, keys, wait=wait, notice=notice)
        for t in summary.teams:
            t.count(states)
    log.info("job %s at %s: %s", name, moment.isoformat(), summary.line())
    return summary


def settle(outbox: Outbox, keys: Sequence[str], *, wait: float, notice: Callable[[str], None] | None = None,
           sleep: Callable[[float], None] = time.sleep) -> dict[str, RowState]:
    """Keep delivering these rows as they come due for up to `wait` seconds; return where they stand.

    A row the platform asked us to wait for (Retry-After) is tried again no sooner than that; when the
    next one is due only after the deadline, this returns at once and leaves it to the outbox worker.
    """
    deadline = time.monotonic() + max(0.0, wait)
    told = False
    while True:
        states = outbox.states(keys)
        waiting = {k: st for k, st in states.items() if st.outcome == QUEUED_FOR_RETRY}
        left = deadline - time.monotonic()
        if not waiting or left <= 0:
            return states
        now = outbox.clock.now()
        due = [k for k, st in waiting.items() if st.due_at is None or st.due_at <= now]
        if due:
            claimed = outbox.claim(due)
            if claimed:
                outbox.send_claimed(claimed)
                continue
        upcoming = [(st.due_at - now).total_seconds() for st in waiting.values()
                    if st.due_at is not None and st.due_at > now]
        pause = min(upcoming, default=0.5)
        if pause > left:  # the platform asked for longer than we may wait: leave them to the outbox
            return states
        if notice is not None and not told:
            notice(f"{len(waiting)} message(s) not sent yet; waiting up to {wait:g} s to deliver them "
                   f"(last error: {describe_error(next(iter(waiting.values())).last_error)})")
            told = True
        # Poll at least every second: another process's outbox may send rows this one cannot claim.
        sleep(min(max(pause, 0.05), 1.0, left))


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
