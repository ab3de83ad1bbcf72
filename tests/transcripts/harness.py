"""Run the transcript scenarios on the demo organisation and write what each platform receives.

Each scenario runs once per locale and platform, on its own copy of a demo database built on a
fixed day, through the real code paths: `App.dispatch` for what people type and press, the job
runner for scheduled messages, and the outbox, which hands every envelope to a recording port.
The recording port answers like the platform would (message ids, WeCom response codes), so
later updates of a message (a decided collaboration request) go out as updates.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.ports import Envelope, SendResult
from bot.core.rendering import Renderer, default_names
from bot.core.settings import Settings, load_settings
from bot.core.types import Action, Inbound, InboundKind
from bot.demo import fill
from bot.wiring import App
from jobs.runner import run_job
from models import TEAM_CHAT_COLUMNS, Customer, Identity, Person, Team
from tests.transcripts.platforms import PLATFORMS, Seen, TranscriptPlatform, dump_calls

HERE = Path(__file__).parent
TODAY = date(2026, 12, 7)  # a Monday: the weekly review runs, the month is a week old
LOCALES = ("zh-CN", "en")


@dataclass(frozen=True)
class Cast:
    """Who plays which part in one locale's transcripts (people and customers of the demo)."""

    locale: str
    team: str
    zone: str
    rep: str  # a rep with goals, follow-ups and history
    rep2: str  # a teammate
    manager: str  # manages the team's region
    admin: str
    own: str  # a customer the rep owns
    group: str  # a customer group (parent with members)
    foreign: str  # another region's customer: visiting it needs permission
    decider: str  # a manager of the foreign customer's region
    others: tuple[str, ...]  # more customers of the rep's region (to give the rep a long list)


CASTS = {
    "zh-CN": Cast("zh-CN", "sh1", "Asia/Shanghai", "zhangwei", "lina", "chenjl", "admin", "星河科技", "远航集团",
                  "天河软件", "liujl", ("远航集团上海分公司", "申通精密", "浦江医疗", "静安置业")),
    "en": Cast("en", "n1", "America/New_York", "bob", "alice", "nora", "admin", "Maple Leaf Foods",
               "Atlas Robotics", "Atlas Robotics Asia", "chenjl",
               ("Lakeside Logistics", "Bluewater Hotels", "Harbor Health", "Summit Analytics")),
}


def local(cast: Cast, hhmm: str, day: date = TODAY) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), ZoneInfo(cast.zone))


def make_settings(url: str, locale: str, platform: TranscriptPlatform) -> Settings:
    data: dict[str, Any] = {"database": {"url": url}, "org": {"locale": locale},
                            "outbox": {"concurrency": 1}}  # one sender: envelopes in the order written
    for section, values in platform.settings.items():
        data.setdefault(section, {}).update(values)
    return load_settings(None, **data)


# -- the demo database, built once per locale -------------------------------------------------

class Demo:
    """Demo databases on the fixed day, one per locale, copied for every run."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._built: dict[str, Path] = {}
        self._runs = itertools.count(1)

    def template(self, locale: str) -> Path:
        if locale not in self._built:
            self._built[locale] = self._build(locale)
        return self._built[locale]

    def _build(self, locale: str) -> Path:
        cast = CASTS[locale]
        path = self.workdir / f"demo-{locale}.db"
        url = f"sqlite:///{path}"
        db = Database(url)
        try:
            db.ensure_schema()
            settings = make_settings(url, locale, PLATFORMS[0])
            fill(db, settings, local(cast, "08:00"))
            with db.unit_of_work() as s:
                # Everyone reads this locale, so each transcript speaks one language throughout.
                s.execute(update(Team).values(locale=locale))
                s.execute(update(Person).values(locale=None))
                for team in s.scalars(select(Team)):
                    for platform in PLATFORMS:
                        for column, value in platform.team(team.code).items():
                            team.set_chats(*TEAM_CHAT_COLUMNS[column], value)
                for person in s.scalars(select(Person)):
                    for platform in PLATFORMS:
                        if platform.identity is not None:
                            user, dm = platform.identity(person.code)
                            s.add(Identity(person_id=person.id, platform=platform.name, external_id=user,
                                           dm_channel=dm))
        finally:
            db.dispose()  # closes the last connection: the WAL is folded into the file
        return path

    def run(self, locale: str, platform: TranscriptPlatform) -> Run:
        path = self.workdir / f"run-{next(self._runs)}.db"
        shutil.copyfile(self.template(locale), path)
        return Run(CASTS[locale], platform, f"sqlite:///{path}", path)


@contextmanager
def demo_workspace() -> Iterator[Demo]:
    with tempfile.TemporaryDirectory(prefix="salesbot-transcripts-") as tmp:
        yield Demo(Path(tmp))


# -- one run: a scenario in one locale on one platform ------------------------------------------

@dataclass
class Step:
    said: str  # what happened, as a reader sees it
    me: str | None  # the speaker's user id on the platform, for the console's headers
    envelopes: list[Envelope] = field(default_factory=list)


class RecordingPort:
    """A port that keeps what it is given and answers like the platform (ids, response codes)."""

    def __init__(self, platform: str, run: Run) -> None:
        self.platform = platform
        self.run = run
        self._ids = itertools.count(1)

    def send(self, envelope: Envelope) -> SendResult:
        n = next(self._ids)
        self.run.record(envelope)
        has_buttons = bool(envelope.payload.get("buttons"))
        return SendResult(ok=True, ref_channel=envelope.target, ref_id=f"{self.platform}-msg-{n}",
                          response_code=f"{self.platform}-code-{n}" if has_buttons else None)


class Crash(RuntimeError):
    """The bug the `error` scenario's handler has."""


def _crash(ctx: Any) -> list[Any]:
    raise Crash("a bug in a handler")


class _QuietCrash(logging.Filter):
    """Keep the `error` scenario's expected traceback out of the test log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], Crash))



@contextmanager
def _recording_renders() -> Iterator[set[str]]:
    """Collect the names of the templates rendered meanwhile."""
    names: set[str] = set()
    original = Renderer.render

    def render(self: Renderer, name: str, locale: str, /, **variables: Any) -> str:
        names.add(name)
        return original(self, name, locale, **variables)

    Renderer.render = render  # type: ignore[method-assign]
    try:
        yield names
    finally:
        Renderer.render = original  # type: ignore[method-assign]


class Run:
    """One scenario's world: an App over a copy of the demo, a fixed clock, and what was sent."""

    def __init__(self, cast: Cast, platform: TranscriptPlatform, url: str, path: Path) -> None:
        self.cast = cast
        self.locale = cast.locale
        self.platform = platform
        self.path = path
        self.settings = make_settings(url, cast.locale, platform)
        self.clock = FixedClock(local(cast, "10:00"))
        self.steps: list[Step] = []
        self._events = itertools.count(1)
        self._recording: list[Envelope] | None = None
        self.all_sent: list[Envelope] = []
        port = RecordingPort(platform.name, self)
        self.app = App(self.settings, clock=self.clock, ports={platform.name: port}, migrate=False)
        self.app.router.command("crash", ["crash", "崩溃"], _crash)  # for the `error` template's scenario
        if not any(isinstance(f, _QuietCrash) for f in logging.getLogger("salesbot.dispatch").filters):
            logging.getLogger("salesbot.dispatch").addFilter(_QuietCrash())
        with self.app.db.unit_of_work() as s:
            self.names = dict(s.execute(select(Person.code, Person.name)).all())
            self.ids = dict(s.execute(select(Person.code, Person.id)).all())
        self.rendered: set[str] = set()

    def close(self) -> None:
        self.app.close()
        self.path.unlink(missing_ok=True)

    # -- words per locale ---------------------------------------------------------------------
    def t(self, zh: str, en: str) -> str:
        """Pick the words of this run's locale."""
        return zh if self.locale == "zh-CN" else en

    # -- what happens -------------------------------------------------------------------------
    def record(self, envelope: Envelope) -> None:
        self.all_sent.append(envelope)
        if self._recording is not None:
            self._recording.append(envelope)

    def _user_id(self, code: str) -> str:
        if self.platform.identity is None:
            return code
        return self.platform.identity(code)[0]

    def _step(self, said: str, me: str | None, act: Callable[[], Any], show: Callable[[Envelope], bool] | None,
              shown: bool) -> Any:
        got: list[Envelope] = []
        self._recording = got
        try:
            with _recording_renders() as names:
                result = act()
        finally:
            self._recording = None
        if shown:
            self.rendered |= names
            self.steps.append(Step(said, me, [e for e in got if show is None or show(e)]))
        return result

    def _dispatch(self, inbound: Inbound) -> Any:
        return self.app.dispatch(inbound)

    def say(self, who: str, text: str, *, show: Callable[[Envelope], bool] | None = None,
            shown: bool = True) -> None:
        """`who` (a person's code, or the cast's stranger) types `text`."""
        n = next(self._events)
        user = self._user_id(who) if who in self.names else f"{who}-on-{self.platform.name}"
        kind = InboundKind.COMMAND if text.lstrip().startswith("/") else InboundKind.MESSAGE
        extra = self.platform.command_extra(n) if kind == InboundKind.COMMAND else {}
        inbound = Inbound(self.platform.name, f"transcript-{n}", user, kind, text=text, **extra)
        name = self.names.get(who, who)
        shown_text = text if len(text) <= 300 else f"{text[:60]}… ({len(text)} characters)"
        said = f"{name}: {shown_text}" if "\n" not in shown_text else f"{name}:\n" + "\n".join(
            f"  {line}" for line in shown_text.split("\n"))
        self._step(said, user, lambda: self._dispatch(inbound), show, shown)

    def button(self, action_id: str, *, to: str | None = None) -> tuple[str, str]:
        """Return (label, value) of the newest button with this action id (sent to `to`, if given)."""
        for env in reversed(self.all_sent):
            if to is not None and env.person_id != self.ids[to]:
                continue
            for b in env.payload.get("buttons") or []:
                if b["action_id"] == action_id:
                    return str(b["label"]), str(b["value"])
        raise LookupError(f"no {action_id} button was sent")

    def press(self, who: str, action_id: str, *, show: Callable[[Envelope], bool] | None = None,
              shown: bool = True) -> None:
        """`who` presses the newest button with this action id that was sent to them."""
        label, value = self.button(action_id, to=who)
        n = next(self._events)
        user = self._user_id(who)
        inbound = Inbound(self.platform.name, f"transcript-{n}", user, InboundKind.ACTION,
                          action=Action(action_id, value))
        self._step(f"{self.names[who]} presses [{label}] ({action_id} {value})", user,
                   lambda: self._dispatch(inbound), show, shown)

    def job(self, name: str, hhmm: str, *, show: Callable[[Envelope], bool] | None = None,
            shown: bool = True) -> None:
        """Run a scheduled job for the cast's team at `hhmm` team-local time today."""
        at = local(self.cast, hhmm)
        self.clock.at = at
        said = f"salesbot run-job {name} --team {self.cast.team} --at {at.isoformat()}"
        self._step(said, None, lambda: run_job(db=self.app.db, settings=self.settings, clock=self.clock, name=name,
                                               team_codes=[self.cast.team], at=at, outbox=self.app.outbox),
                   show, shown)

    def promise(self, customer: str, day: str, *, owner: str | None = None) -> None:
        """Set up: a follow-up of `customer` was promised for `day` (in the past: it is overdue); `owner` takes it over."""
        values: dict[str, Any] = {"next_follow_up": date.fromisoformat(day)}
        if owner is not None:
            values["owner_id"] = self.ids[owner]
        with self.app.db.unit_of_work() as s:
            s.execute(update(Customer).where(Customer.name == customer).values(**values))

    def at(self, hhmm: str) -> None:
        """Set the clock to `hhmm` team-local time today."""
        self.clock.at = local(self.cast, hhmm)

    # -- filters for `show` -------------------------------------------------------------------
    def to(self, *codes: str) -> Callable[[Envelope], bool]:
        ids = {self.ids[c] for c in codes}
        return lambda env: env.person_id in ids

    @staticmethod
    def to_team(env: Envelope) -> bool:
        return env.person_id is None and env.target_kind in ("channel", "chat", "webhook")

    # -- the transcript -----------------------------------------------------------------------
    def transcript(self) -> str:
        out: list[str] = []
        for step in self.steps:
            out.append(f"> {step.said}")
            if not step.envelopes:
                out.append("(nothing sent)")
            for env in step.envelopes:
                seen = Seen(self.settings, self.clock.now(), me=step.me, names=self.names)
                out.append(dump_calls(self.platform.wire(env, seen)))
                out.append("")
            if out[-1] == "":
                out.pop()
            out.append("")
        return "\n".join(out).rstrip("\n") + "\n"


# -- scenarios ---------------------------------------------------------------------------------

ScenarioFn = Callable[[Run, Cast], None]


@dataclass(frozen=True)
class Scenario:
    templates: tuple[str, ...]  # the templates this scenario shows (it is in each one's transcript file)
    title: str
    fn: ScenarioFn


SCENARIOS: list[Scenario] = []


def scenario(*templates: str, title: str) -> Callable[[ScenarioFn], ScenarioFn]:
    """Register a scenario that shows `templates`; several scenarios may show the same one."""
    def register(fn: ScenarioFn) -> ScenarioFn:
        SCENARIOS.append(Scenario(templates, title, fn))
        return fn
    return register


@dataclass
class Outcome:
    text: str
    rendered: set[str]


def play(demo: Demo, sc: Scenario, locale: str, platform: TranscriptPlatform) -> Outcome:
    run = demo.run(locale, platform)
    try:
        sc.fn(run, run.cast)
        return Outcome(run.transcript(), run.rendered)
    finally:
        run.close()


def transcript_path(template: str, locale: str) -> Path:
    return HERE / locale / f"{template}.txt"


def render_file(template: str, locale: str, outcomes: dict[tuple[str, str], Outcome]) -> str:
    """The transcript file of one template in one locale: each scenario, each platform."""
    lines = [f"# {template} · {locale}",
             "# Written by `python -m tests.transcripts --update`; read the diff, do not edit by hand.", ""]
    for sc in SCENARIOS:
        if template not in sc.templates:
            continue
        lines.append(f"## {sc.title}")
        lines.append("")
        for platform in PLATFORMS:
            lines.append(f"### {platform.name}")
            lines.append("")
            lines.append(outcomes[(sc.title, platform.name)].text)
    return "\n".join(lines).rstrip("\n") + "\n"


def play_all(demo: Demo, locale: str, templates: set[str] | None = None) -> dict[str, tuple[str, set[str]]]:
    """Return {template: (file text, templates its scenarios rendered)} for one locale."""
    from tests.transcripts import scenarios  # noqa: F401 - registers the scenarios

    wanted = set(templates) if templates is not None else {t for sc in SCENARIOS for t in sc.templates}
    outcomes: dict[tuple[str, str], Outcome] = {}
    rendered: dict[str, set[str]] = {t: set() for t in wanted}
    for sc in SCENARIOS:
        if not wanted & set(sc.templates):
            continue
        for platform in PLATFORMS:
            outcome = play(demo, sc, locale, platform)
            outcomes[(sc.title, platform.name)] = outcome
            for t in sc.templates:
                if t in wanted:
                    rendered[t] |= outcome.rendered
    return {t: (render_file(t, locale, outcomes), rendered[t]) for t in sorted(wanted)}


def all_templates() -> list[str]:
    return default_names()
