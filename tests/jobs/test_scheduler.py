"""The APScheduler wiring: one cron job per (job, team) in the team's zone, generous misfire grace."""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.db import Database
from bot.core.settings import Settings
from bot.scheduler import MISFIRE_GRACE_SECONDS, build_scheduler, run_forever
from models import Team
from tests.jobs.helpers import make_app
from tests.support.org import build_org


def test_one_cron_job_per_job_and_team_in_the_team_zone(settings: Settings, db: Database) -> None:
    org = build_org(db)
    with db.unit_of_work() as s:
        team = s.get(Team, org.ids["team:gz1"])
        assert team is not None
        team.schedule_evening = "19:15"
    app, _ = make_app(settings, db)
    scheduler = build_scheduler(app)
    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert len([k for k in jobs if k.startswith("job:")]) == 15
    n1 = jobs["job:morning:n1"]
    assert n1.trigger.timezone == ZoneInfo("America/New_York")
    assert n1.misfire_grace_time == MISFIRE_GRACE_SECONDS and n1.coalesce and n1.max_instances == 1
    after = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert n1.trigger.get_next_fire_time(None, after) == datetime(2026, 11, 24, 8, 45,
                                                                   tzinfo=ZoneInfo("America/New_York"))
    gz_evening = jobs["job:evening:gz1"].trigger.get_next_fire_time(
        None, datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    assert (gz_evening.hour, gz_evening.minute) == (19, 15)
    assert str(jobs["job:weekly:sh1"].trigger.fields[5]) == "8"  # hour: the morning time


def test_run_forever_stops_cleanly(settings: Settings, db: Database) -> None:
    build_org(db)
    app, _ = make_app(settings, db)
    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(app,), kwargs={"stop": stop})
    worker.start()
    stop.set()
    worker.join(15)
    assert not worker.is_alive()
