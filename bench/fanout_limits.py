"""Fan-outs under the platforms' real sending limits, against the time those limits allow.

Run: python bench/fanout_limits.py [--scale 4] [--wecom-teams 40] [--slack-reps 2000] [--slack-limit 600]
(`python bench/fanout.py` runs it too, after the unlimited fan-out.)

Two scenarios where a limit really binds, each run twice on a fresh SQLite database and a fresh fake API:

- WeCom, Monday's weekly review: a region of `--wecom-teams` teams whose two regional managers get
  every team's review as a DM, text + chart (2 `message/send` each): 80 messages per manager for 40
  teams, against WeCom's 30 messages a minute per member. Above that WeCom answers errcode 0 and
  drops the message silently: the fake does the same, and every drop counts as lost.
- Slack, the morning prompt to `--slack-reps` reps, against a workspace-wide `chat.postMessage`
  limit of `--slack-limit` a minute (Slack publishes no number, only "several hundred messages per
  minute"): above it the fake answers 429 with an integer Retry-After.

The first run has the limits off on both sides (the fake's and our pacing): it gives the time each
message could leave at our own unlimited pace. The floor pushes those times as the limit demands
(message i to the same member, or workspace, no earlier than message i-N plus the window) and takes
the last one: the time the limits allow. The second run has the limits on, with the outbox worker
running as in `serve`; its time is the last message's arrival at the fake. The ratio is the second
over the floor (goal <= 1.1).

To keep it short, the platform's clock runs `--scale` times faster than the wall clock: one platform
minute lasts 60/scale seconds. The fakes and our outbox read the same scaled clock, so the limits'
windows, our pacing, Retry-After waits and retry backoffs all shrink by the same factor, and so does
the outbox worker's poll interval (1 s in `serve`); the outbox lease is kept at 60 real seconds. What
does not scale is our own work (database, rendering, HTTP), so a large scale is the harsher test;
`--scale 1` runs in real time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select  # noqa: E402

from bot.core.db import Database  # noqa: E402
from bot.core.ports import Envelope  # noqa: E402
from bot.core.settings import Settings, load_settings  # noqa: E402
from bot.platforms.slack.port import SlackPort  # noqa: E402
from bot.platforms.wecom.port import WecomPort  # noqa: E402
from bot.wiring import App  # noqa: E402
from bot.worker import OutboxWorker  # noqa: E402
from jobs import runner  # noqa: E402
from models import Identity, ManagedRegion, OutboxMessage, OutboxStatus, Person, Region, Team, TeamChat  # noqa: E402
from tests.support.fake_slack import running_fake_slack  # noqa: E402
from tests.support.fake_wecom import AES_KEY, AGENT_ID, CALLBACK_TOKEN, FakeWecom  # noqa: E402

AT = datetime(2026, 11, 23, 0, 45, tzinfo=UTC)  # Monday 08:45 in Shanghai: morning prompt and weekly review
warnings.filterwarnings("ignore", message="Glyph .* missing from font")  # chart labels without a CJK font
GOAL_RATIO = 1.1
WECOM_PER_MEMBER = 30  # message/send to one member per minute (WeCom's documented limit)
WINDOW = 60.0  # platform seconds
POLL_SECONDS = 1.0  # the outbox worker's interval in `serve`
REPS_PER_TEAM = 6
MANAGERS = 2


class ScaledClock:
    """A clock that starts at `origin` and runs `scale` times faster than the wall clock."""

    def __init__(self, origin: datetime, scale: float) -> None:
        self.origin, self.scale, self.t0 = origin, scale, time.perf_counter()

    def now(self) -> datetime:
        return self.origin + timedelta(seconds=(time.perf_counter() - self.t0) * self.scale)

    def seconds(self) -> float:
        return self.now().timestamp()


@dataclass
class Row:
    """One outbox row: the limit group it counts in (None: no limit), its messages, when it was ready and sent."""

    key: str
    group: str | None
    messages: int
    ready: float  # platform seconds from the start: the job committed it and handed it to the outbox
    sent: float | None  # when the outbox recorded it sent


@dataclass
class Run:
    """One run of a scenario, in platform seconds from the job's start."""

    rows: list[Row] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # every message the fake accepted (shown or dropped)
    delivered: Counter[str] = field(default_factory=Counter)  # message identity -> times shown
    dropped: int = 0
    dead: int = 0
    refused: int = 0  # answers that were a 429 or an error

    @property
    def last(self) -> float:
        return max(self.arrivals, default=0.0)


def pushed_floor(times: Iterable[float], limit: int, window: float) -> float:
    """Delay each arrival so that no `limit` + 1 fall within `window`; return the last one's time."""
    out: list[float] = []
    for i, t in enumerate(sorted(times)):
        out.append(max(t, out[i - limit] + window) if i >= limit else t)
    return out[-1] if out else 0.0


def floor_of(free: Run, bound: Run, limit: int) -> tuple[float, float]:
    """Return the time the limits allow, and the same if every message had been ready at the start.

    A message can leave no earlier than its row was ready in the limited run plus the time the same
    row took from ready to sent in the unlimited run (our own sending speed, queueing included), and
    no earlier than the message `limit` places before it to the same target plus the window.
    """
    took = {r.key: r.sent - r.ready for r in free.rows if r.sent is not None}
    groups: dict[str, list[float]] = defaultdict(list)
    unlimited: list[float] = []
    for row in bound.rows:
        t = row.ready + max(0.0, took.get(row.key, 0.0))
        if row.group is None:
            unlimited.append(t)
        else:
            groups[row.group].extend([t] * row.messages)
    floor = max([pushed_floor(ts, limit, WINDOW) for ts in groups.values()] + unlimited, default=0.0)
    at_once = max((((len(ts) - 1) // limit) * WINDOW for ts in groups.values()), default=0.0)
    return floor, at_once


def run_timed(app: App, clock: ScaledClock, job: str, args: argparse.Namespace,
              messages: Callable[[OutboxMessage], int]) -> tuple[Run, float]:
    """Run `job` with the outbox worker on; wait for the outbox to empty; return its rows and the start."""
    ready: dict[str, float] = {}
    handed_over = runner.deliver_keys

    def deliver_keys(outbox: Any, keys: Sequence[str], tick: Any = None) -> tuple[int, int]:
        now = clock.seconds()
        ready.update(dict.fromkeys(keys, now))
        return handed_over(outbox, keys, tick)

    worker = OutboxWorker(app, interval=POLL_SECONDS / args.scale).start()
    start = clock.seconds()
    runner.deliver_keys = deliver_keys  # type: ignore[assignment]  # note when each row is ready
    try:
        runner.run_job(db=app.db, settings=app.settings, clock=clock, name=job, at=AT, outbox=app.outbox)
    finally:
        runner.deliver_keys = handed_over  # type: ignore[assignment]
    deadline = time.monotonic() + args.timeout
    while app.outbox.backlog() and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.stop()
    run = Run()
    with app.db.unit_of_work() as s:
        for row in s.scalars(select(OutboxMessage)):
            limited = row.target_kind == "user"
            group = (row.target if row.platform == "wecom" else "workspace") if limited else None
            run.rows.append(Row(row.key, group, messages(row), ready.get(row.key, start) - start,
                                row.sent_at.timestamp() - start if row.sent_at else None))
            run.dead += row.status == OutboxStatus.DEAD
    return run, start


def base_settings(tmp: str, scale: float, concurrency: int, **platform: dict[str, object]) -> Settings:
    return load_settings(None, database={"url": f"sqlite:///{tmp}/bench.db"},
                         outbox={"concurrency": concurrency, "lease_seconds": int(60 * scale)}, **platform)


# -- WeCom: the weekly review to regional managers ------------------------------------------------

def build_region(db: Database, teams: int) -> None:
    with db.unit_of_work() as s:
        region = Region(code="east", name="华东")
        s.add(region)
        s.flush()
        s.execute(insert(Team), [{"code": f"t{i:03d}", "name": f"华东{i}组", "region_id": region.id}
                                 for i in range(teams)])
        team_ids = list(s.scalars(select(Team.id).order_by(Team.code)))
        s.execute(insert(TeamChat), [{"team_id": tid, "platform": "wecom", "kind": "chat", "target": f"chat_t{i:03d}"}
                                     for i, tid in enumerate(team_ids)])
        s.execute(insert(Person), [{"code": f"rep{t:03d}_{r}", "name": f"销售{t}-{r}", "role": "rep",
                                    "team_id": tid, "active": True}
                                   for t, tid in enumerate(team_ids) for r in range(REPS_PER_TEAM)])
        s.execute(insert(Person), [{"code": f"mgr{m}", "name": f"经理{m}", "role": "manager",
                                    "team_id": team_ids[0], "active": True} for m in range(MANAGERS)])
        people = list(s.execute(select(Person.id, Person.code)))
        s.execute(insert(Identity), [{"person_id": pid, "platform": "wecom", "external_id": code}
                                     for pid, code in people])
        s.execute(insert(ManagedRegion), [{"person_id": pid, "region_id": region.id}
                                          for pid, code in people if code.startswith("mgr")])


def wecom_run(args: argparse.Namespace, *, limited: bool) -> Run:
    clock = ScaledClock(AT, args.scale)
    fake = FakeWecom(clock=clock.seconds, per_member_per_minute=WECOM_PER_MEMBER if limited else 0,
                     window_seconds=WINDOW)
    with tempfile.TemporaryDirectory() as tmp, fake.running():
        settings = base_settings(tmp, args.scale, args.limits_concurrency, wecom={
            "corp_id": fake.corp_id, "agent_id": AGENT_ID, "secret": fake.secret, "token": CALLBACK_TOKEN,
            "encoding_aes_key": AES_KEY, "api_base_url": fake.url,
            "per_member_per_minute": WECOM_PER_MEMBER if limited else 1_000_000})
        db = Database(settings.database.url)
        db.upgrade()
        build_region(db, args.wecom_teams)
        port = WecomPort(settings, db=db, clock=clock)
        app = App(settings, db=db, clock=clock, ports={"wecom": port}, migrate=False)
        run, start = run_timed(app, clock, "weekly", args, lambda row: port.messages_in(Envelope(
            key=row.key, platform=row.platform, target_kind=row.target_kind, target=row.target,
            payload=row.payload)))
        port.close()
        app.close()
        for call in fake.calls:
            if call.path not in ("message/send", "appchat/send"):
                continue
            if call.outcome not in (0, "dropped"):
                run.refused += 1
                continue
            run.arrivals.append(call.at - start)
            to = call.body.get("touser") or call.body.get("chatid")
            kind = call.body.get("msgtype")
            what = str(call.body.get(kind, {}).get("content")) if kind == "markdown" else kind
            if call.outcome == "dropped":
                run.dropped += 1
            else:
                run.delivered[f"{call.path}|{to}|{kind}|{what}"] += 1
        return run


# -- Slack: the morning prompt under a workspace-wide chat.postMessage limit -----------------------

def build_reps(db: Database, reps: int) -> None:
    with db.unit_of_work() as s:
        region = Region(code="r", name="区域")
        s.add(region)
        s.flush()
        team = Team(code="t", name="大团队", region_id=region.id)
        s.add(team)
        s.flush()
        s.execute(insert(Person), [{"code": f"rep{i:05d}", "name": f"销售{i}", "role": "rep", "team_id": team.id,
                                    "active": True} for i in range(reps)])
        ids = list(s.scalars(select(Person.id).order_by(Person.id)))
        s.execute(insert(Identity), [{"person_id": pid, "platform": "slack", "external_id": f"U{pid:07d}"}
                                     for pid in ids])


def slack_run(args: argparse.Namespace, *, limited: bool) -> Run:
    clock = ScaledClock(AT, args.scale)
    with tempfile.TemporaryDirectory() as tmp, running_fake_slack() as fake:
        fake.delay = args.limits_delay
        fake.clock = clock.seconds
        fake.post_limit = args.slack_limit if limited else 0
        fake.post_window = WINDOW
        settings = base_settings(tmp, args.scale, args.limits_concurrency, slack={
            "bot_token": "xoxb-bench", "signing_secret": "s", "api_url": fake.url})
        db = Database(settings.database.url)
        db.upgrade()
        build_reps(db, args.slack_reps)
        app = App(settings, db=db, clock=clock, ports={"slack": SlackPort(settings)}, migrate=False)
        run, start = run_timed(app, clock, "morning", args, lambda row: 1)
        app.close()
        for call in fake.all_calls("chat.postMessage"):
            if not call.ok:
                run.refused += 1
                continue
            meta = call.args.get("metadata") or {}
            if isinstance(meta, str):
                meta = json.loads(meta)
            run.arrivals.append(call.at - start)
            run.delivered[str((meta.get("event_payload") or {}).get("key"))] += 1
        return run


# -- report ----------------------------------------------------------------------------------------

def report(name: str, scale: float, free: Run, bound: Run, limit: int) -> bool:
    """Print one scenario's figures; return True when nothing was lost or repeated."""
    floor, at_once = floor_of(free, bound, limit)
    lost = sum((free.delivered - bound.delivered).values())
    repeated = sum((bound.delivered - free.delivered).values())
    ratio = bound.last / floor if floor else float("inf")
    sizes = Counter()
    for row in free.rows:
        if row.group is not None:
            sizes[row.group] += row.messages

    def secs(platform_seconds: float) -> str:
        return f"{platform_seconds / scale:6.2f} s ({platform_seconds:6.1f} platform s)"

    print(name)
    print(f"  limits off:  {secs(free.last)}  {sum(free.delivered.values())} messages, "
          f"up to {max(sizes.values(), default=0)} to one limited target")
    print(f"  floor:       {secs(floor)}  the limits applied to when each message was ready "
          f"({at_once:.0f} platform s if all were ready at the start)")
    print(f"  limits on:   {secs(bound.last)}  {bound.refused} answers refused and retried, {bound.dead} given up")
    verdict = "ok" if ratio <= GOAL_RATIO and lost == 0 and repeated == 0 else "MISSED"
    drops = f" ({bound.dropped} silently dropped by WeCom)" if "WeCom" in name else ""
    print(f"  ratio {ratio:.2f} (goal <= {GOAL_RATIO}); lost {lost}{drops}, repeated {repeated} "
          f"(goal 0 and 0)  {verdict}")
    return lost == 0 and repeated == 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--scale", type=float, default=4.0, help="platform seconds per wall-clock second")
    ap.add_argument("--wecom-teams", type=int, default=40, help="teams whose weekly review each manager gets")
    ap.add_argument("--slack-reps", type=int, default=2000)
    ap.add_argument("--slack-limit", type=int, default=600, help="workspace chat.postMessage per minute")
    ap.add_argument("--limits-delay", dest="limits_delay", type=float, default=0.02,
                    help="simulated Slack API latency per call, wall-clock seconds")
    ap.add_argument("--limits-concurrency", dest="limits_concurrency", type=int, default=8,
                    help="outbox.concurrency (8 is the default setting)")
    ap.add_argument("--timeout", type=float, default=300.0, help="give up draining after this, wall-clock s")
    ap.add_argument("--only", choices=("wecom", "slack"), help="run one scenario")


def run_all(args: argparse.Namespace) -> bool:
    print(f"under the platforms' limits: 1 platform minute = {60 / args.scale:g} s (scale {args.scale:g}: the "
          f"limits' windows, our pacing, Retry-After, backoff and the worker's poll scaled alike); "
          f"concurrency {args.limits_concurrency}")
    ok = True
    if args.only in (None, "wecom"):
        free, bound = wecom_run(args, limited=False), wecom_run(args, limited=True)
        ok &= report(f"WeCom weekly review, {args.wecom_teams} teams, {MANAGERS} regional managers "
                     f"(text + chart per team each), {WECOM_PER_MEMBER}/min per member, silent drop above",
                     args.scale, free, bound, WECOM_PER_MEMBER)
    if args.only in (None, "slack"):
        free, bound = slack_run(args, limited=False), slack_run(args, limited=True)
        ok &= report(f"Slack morning prompt to {args.slack_reps} reps, chat.postMessage {args.slack_limit}/min "
                     f"per workspace, 429 + Retry-After above (API latency {args.limits_delay * 1000:.0f} ms)",
                     args.scale, free, bound, args.slack_limit)
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(ap)
    sys.exit(0 if run_all(ap.parse_args()) else 1)


if __name__ == "__main__":
    main()
