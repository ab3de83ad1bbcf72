"""The one table of jobs: name, the setting that gives its local time, and the function."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time

from bot.core.settings import Settings
from jobs.base import JobContext, JobResult
from models import Team

JobFunction = Callable[..., JobResult]


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job."""

    name: str
    setting: str  # the `schedule.*` key that gives the local time
    team_attr: str | None  # the Team column that overrides it, if any
    function_path: str  # "module:function", imported when first run
    weekly: bool = False  # only on the first workday of the week

    def function(self) -> JobFunction:
        module, _, attr = self.function_path.partition(":")
        fn: JobFunction = getattr(importlib.import_module(module), attr)
        return fn

    def local_time(self, team: Team, settings: Settings) -> time:
        """Return the team-local time this job runs at (team override, else the setting)."""
        override = getattr(team, self.team_attr) if self.team_attr else None
        if override:
            try:
                return time.fromisoformat(override)
            except ValueError:
                pass  # a bad override falls back to the organisation's time
        return time.fromisoformat(getattr(settings.schedule, self.setting))

    def runs_on(self, day: date, *, is_workday: bool, first_of_week: bool) -> str | None:
        """Return why the job does not run on `day`, or None when it does."""
        if not is_workday:
            return "not a workday"
        if self.weekly and not first_of_week:
            return "not the first workday of the week"
        return None


JOBS: dict[str, JobSpec] = {spec.name: spec for spec in (
    JobSpec("morning", "morning", "schedule_morning", "jobs.morning:run"),
    JobSpec("reminder", "reminder", "schedule_reminder", "jobs.reminder:run"),
    JobSpec("evening", "evening", "schedule_evening", "jobs.evening:run"),
    JobSpec("nudges", "nudges", None, "jobs.nudges:run"),
    JobSpec("weekly", "morning", "schedule_morning", "jobs.weekly:run", weekly=True),
)}

JOB_NAMES: tuple[str, ...] = tuple(JOBS)

__all__ = ["JOBS", "JOB_NAMES", "JobContext", "JobFunction", "JobResult", "JobSpec"]
