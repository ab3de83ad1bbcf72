"""APScheduler wiring from the one job table in jobs/schedule.py; `salesbot scheduler` and `run-job`."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select

from bot.core.context import team_zone
from jobs.runner import Summary, UnknownJob, UnknownTeam, run_job
from jobs.schedule import JOBS
from models import Team

log = logging.getLogger("salesbot.scheduler")

MISFIRE_GRACE_SECONDS = 3600  # a process that was busy or restarting still sends within the hour
RESYNC_MINUTES = 10  # pick up new teams and changed team times without a restart


def _run_scheduled(app: Any, name: str, code: str) -> None:
    """Run one job for one team now; never let an error kill the scheduler thread."""
    try:
        summary = run_job(db=app.db, settings=app.settings, clock=app.clock, name=name, team_codes=[code],
                          outbox=app.outbox)
        log.info("%s", summary.line())
    except Exception:
        log.exception("scheduled job %s for team %s failed", name, code)


def sync_jobs(scheduler: BackgroundScheduler, app: Any) -> int:
    """Make the scheduler hold one cron job per (job, team) at the team-local time; return how many."""
    with app.db.unit_of_work() as s:
        teams = list(s.scalars(select(Team).order_by(Team.code)))
        wanted: dict[str, tuple[str, str, int, int, ZoneInfo]] = {}
        for team in teams:
            zone = team_zone(team, app.settings)
            for spec in JOBS.values():
                at = spec.local_time(team, app.settings)
                wanted[f"job:{spec.name}:{team.code}"] = (spec.name, team.code, at.hour, at.minute, zone)
    existing = {job.id for job in scheduler.get_jobs()}
    for job_id in existing - set(wanted) - {"resync"}:
        scheduler.remove_job(job_id)
    for job_id, (name, code, hour, minute, zone) in wanted.items():
        scheduler.add_job(
            _run_scheduled, CronTrigger(hour=hour, minute=minute, timezone=zone), args=(app, name, code),
            id=job_id, name=job_id, replace_existing=True, misfire_grace_time=MISFIRE_GRACE_SECONDS,
            coalesce=True, max_instances=1,
        )
    return len(wanted)


def build_scheduler(app: Any) -> BackgroundScheduler:
    """Return a scheduler (not started) with every job for every team, in memory."""
    # In memory on purpose: APScheduler 3 cannot share a store between processes; the JobRun claim
    # in the database is what makes each send happen once, however many schedulers run.
    scheduler = BackgroundScheduler(timezone=ZoneInfo(app.settings.org.timezone),
                                    job_defaults={"coalesce": True, "max_instances": 1,
                                                  "misfire_grace_time": MISFIRE_GRACE_SECONDS})
    sync_jobs(scheduler, app)
    scheduler.add_job(_resync, "interval", minutes=RESYNC_MINUTES, args=(scheduler, app), id="resync",
                      replace_existing=True)
    return scheduler


def _resync(scheduler: BackgroundScheduler, app: Any) -> None:
    try:
        sync_jobs(scheduler, app)
    except Exception:
        log.exception("could not refresh the schedule from the database")


def start_background(app: Any) -> BackgroundScheduler:
    """Start the scheduler in background threads (used by `salesbot serve`); call .shutdown() to stop."""
    scheduler = build_scheduler(app)
    scheduler.start()
    log.info("scheduler started with %d jobs", len(scheduler.get_jobs()))
    return scheduler


def run_forever(app: Any, *, stop: threading.Event | None = None) -> None:
    """Run the scheduler and an outbox sender until SIGTERM or SIGINT."""
    stop = stop or threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    scheduler = start_background(app)
    try:
        _outbox_loop(app, stop)
    finally:
        scheduler.shutdown(wait=True)
        app.close()


def _outbox_loop(app: Any, stop: threading.Event) -> None:
    """Retry what is due in the outbox until stopped (bot.worker's OutboxWorker when present)."""
    try:
        from bot.worker import OutboxWorker
    except ImportError:
        OutboxWorker = None  # type: ignore[assignment,misc]  # noqa: N806
    if OutboxWorker is not None:
        worker = OutboxWorker(app).start()
        try:
            stop.wait()
        finally:
            worker.stop()
        return
    while not stop.is_set():
        try:
            app.outbox.release_stuck()
            app.outbox.deliver()
        except Exception:
            log.exception("outbox delivery failed; retrying")
        stop.wait(2.0)


def parse_at(value: datetime | None, org_zone: str) -> datetime | None:
    """Return `value` aware: a naive time is read in the organisation's zone."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=ZoneInfo(org_zone))


def run_job_command(settings: Any, name: str, *, at: datetime | None, team: str | None, wait: float = 0.0,
                    app_factory: Callable[..., Any] | None = None) -> Summary:
    """`salesbot run-job`: run a job now or as of --at, deliver (waiting up to `wait` s for retries), summarise.

    The summary line counts sent, queued for retry and failed for good; a line per kind not sent says why.
    """
    if name not in JOBS:
        print(f"unknown job {name!r}; the jobs are: {', '.join(JOBS)}", file=sys.stderr)
        raise SystemExit(2)
    from bot.wiring import App

    app = (app_factory or App)(settings)
    try:
        with _progress() as progress:
            try:
                summary = run_job(db=app.db, settings=settings, clock=app.clock, name=name,
                                  team_codes=[team] if team else None,
                                  at=parse_at(at, settings.org.timezone), outbox=app.outbox, progress=progress,
                                  wait=wait, notice=lambda text: print(text, file=sys.stderr, flush=True))
            except (UnknownJob, UnknownTeam) as exc:
                print(str(exc), file=sys.stderr)
                raise SystemExit(2) from None
        sys.stdout.write("\n".join([summary.line(), *summary.details()]) + "\n")
        sys.stdout.flush()
        return summary
    finally:
        app.close()


class _progress:
    """A rich progress bar on stderr for long fan-outs, only when stderr is a terminal."""

    def __enter__(self) -> Callable[[str, int], Callable[[int, int], None]] | None:
        self._bar: Any = None
        if not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(stderr=True), transient=True)
        self._bar.start()

        def factory(team: str, total: int) -> Callable[[int, int], None]:
            task = self._bar.add_task(f"{team}", total=total)
            return lambda done, _total: self._bar.update(task, completed=done)

        return factory

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
