"""The template editor's preview on real data: the job or command that sends a template, run dry.

For a template and a chosen team, person and day, the code path that sends it runs inside a
savepoint that is always rolled back: the scheduled job through `jobs.runner.job_messages` (the
runner's own builder), a command through `Dispatcher.run_handler` (the dispatcher's own route).
Its renderer captures the variables it passes to that template; the draft is rendered on them
under the same sandbox and time limit as a saved text, and the message goes through each
platform's pure body-building function (what its port sends). Templates that no job or command
can produce on demand (errors, refusals) use their sample data (templates/samples/NAME.json).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console.preview import PlatformView, PreviewResult
from bot.core.clock import FixedClock
from bot.core.context import Context, person_locale, team_zone, template_overrides
from bot.core.dispatch import Dispatcher
from bot.core.ports import Envelope
from bot.core.rendering import Renderer
from bot.core.settings import Settings
from bot.core.types import Inbound, InboundKind, Outbound, ToPerson, ToTeam
from jobs.runner import job_messages
from jobs.schedule import JOBS
from models import Customer, DailyReport, Goal, Person, Team
from services import templates as svc
from services.report_fields import load_fields

log = logging.getLogger("salesbot.console.preview")

MARK = "\x1fpreview-{}\x1f"
Say = Callable[[Session, Person, Team, date, str], str | None]  # (..., the person's locale) -> what they type


@dataclass(frozen=True)
class Scenario:
    """How the bot comes to send a template: a job for the team, or something a person types."""

    job: str | None = None
    say: Say | None = None
    as_viewer: bool = False  # typed by the admin or manager looking at the preview (admin commands)
    team_post: bool = False  # goes to the team's chat (else to a person)


def _own_customer(session: Session, person: Person) -> Customer | None:
    return session.scalar(select(Customer).where(Customer.owner_id == person.id).order_by(Customer.name).limit(1))


def _foreign_customer(session: Session, person: Person) -> Customer | None:
    region_id = person.team.region_id if person.team is not None else None
    return session.scalar(select(Customer).where(Customer.region_id != region_id).order_by(Customer.name).limit(1))


def _quoted(name: str) -> str:
    return f'"{name}"' if " " in name else name


def _report_text(session: Session, person: Person, team: Team, day: date, locale: str) -> str | None:
    return session.scalar(select(DailyReport.raw_text).where(DailyReport.person_id == person.id,
                                                             DailyReport.day == day))


def _key_actions_text(session: Session, person: Person, team: Team, day: date, locale: str) -> str | None:
    actions = session.scalar(select(DailyReport.key_actions).where(DailyReport.person_id == person.id,
                                                                   DailyReport.day == day))
    if not actions:
        return None
    return "\n".join(["today", *(f"{i}. {a}" for i, a in enumerate(actions, 1))])


def _report_error_text(session: Session, person: Person, team: Team, day: date, locale: str) -> str:
    fields = [f for f in load_fields(session=session) if str(f.type) == "count"]
    zh = locale.startswith("zh")
    label = fields[0].label(locale) if fields else "visits"
    return f"日报\n{label}：很多" if zh else f"daily report\n{label}: lots"


def _visit_text(session: Session, person: Person, team: Team, day: date, locale: str) -> str | None:
    customer = _own_customer(session, person)
    return f"/visit {_quoted(customer.name)}" if customer is not None else None


def _foreign_visit_text(session: Session, person: Person, team: Team, day: date, locale: str) -> str | None:
    customer = _foreign_customer(session, person)
    return f"/visit {_quoted(customer.name)}" if customer is not None else None


def _collab_text(session: Session, person: Person, team: Team, day: date, locale: str) -> str | None:
    customer = _foreign_customer(session, person)
    return f"/collab {_quoted(customer.name)} preview" if customer is not None else None


def _customer_text(session: Session, person: Person, team: Team, day: date, locale: str) -> str | None:
    customer = _own_customer(session, person) or _foreign_customer(session, person)
    return f"/customer {_quoted(customer.name)}" if customer is not None else None


def _split_text(session: Session, person: Person, team: Team, day: date, locale: str) -> str | None:
    goal = session.scalar(select(Goal).where(Goal.scope == "team", Goal.code == team.code,
                                             Goal.period == f"{day:%Y-%m}").order_by(Goal.metric).limit(1))
    return f"/goal split team {team.code} {goal.period} {goal.metric} by=even" if goal is not None else None


def _fixed(text: str) -> Say:
    return lambda s, p, t, d, loc: text


SCENARIOS: dict[str, Scenario] = {
    "morning_prompt": Scenario(job="morning"),
    "report_reminder": Scenario(job="reminder"),
    "evening_leaderboard": Scenario(job="evening", team_post=True),
    "weekly_review": Scenario(job="weekly", team_post=True),
    "nudge": Scenario(job="nudges"),
    "escalation": Scenario(job="nudges"),
    "stalled_risk": Scenario(job="nudges"),
    "help": Scenario(say=_fixed("/help")),
    "report_form": Scenario(say=_fixed("/report")),
    "report_reply": Scenario(say=_report_text),
    "report_error": Scenario(say=_report_error_text),
    "key_actions_reply": Scenario(say=_key_actions_text),
    "goal_show": Scenario(say=_fixed("/goal")),
    "goal_split": Scenario(say=_split_text, as_viewer=True),
    "leaderboard": Scenario(say=_fixed("/leaderboard month")),
    "followups": Scenario(say=_fixed("/followups")),
    "followup_button": Scenario(say=_fixed("/followups")),
    "customer_card": Scenario(say=_customer_text),
    "visit_reply": Scenario(say=_visit_text),
    "collab_needed": Scenario(say=_foreign_visit_text),
    "collab_sent": Scenario(say=_collab_text),
    "collab_request": Scenario(say=_collab_text),
    "collab_button": Scenario(say=_collab_text),
    "field_list": Scenario(say=_fixed("/field list"), as_viewer=True),
    "template_list": Scenario(say=_fixed("/template list"), as_viewer=True),
    "template_show": Scenario(say=_fixed("/template show evening_leaderboard"), as_viewer=True),
    "template_history": Scenario(say=_fixed("/template history evening_leaderboard"), as_viewer=True),
    "template_edit": Scenario(say=_fixed("/template edit evening_leaderboard"), as_viewer=True),
}
TEAM_POSTS = frozenset(name for name, s in SCENARIOS.items() if s.team_post)


class _Capture(Renderer):
    """Render every template as usual, except one: record its variables and leave a mark in the text."""

    def __init__(self, base: Renderer, name: str, locale: str) -> None:
        super().__init__(None)
        self.base = base
        self.name = name
        self.locale = locale
        self.calls: list[dict[str, Any]] = []

    def source(self, name: str, locale: str) -> str:
        return self.base.source(name, locale)

    def render(self, name: str, locale: str, /, **variables: Any) -> str:
        if name != self.name:
            return self.base.render(name, locale, **variables)
        variables["locale"] = self.locale  # the locale being edited, whoever would receive it
        self.calls.append(variables)
        return MARK.format(len(self.calls) - 1)


class _Miss(Exception):
    """The code path did not send this template for that team, person and day."""

    def __init__(self, key: str, **variables: Any) -> None:
        super().__init__(key)
        self.key = key
        self.variables = variables


class RealDataPreviewer:
    """Preview a draft the way the bot would send it; see the module docstring."""

    def __init__(self, settings: Settings, dispatcher: Dispatcher) -> None:
        self.settings = settings
        self.dispatcher = dispatcher

    # -- the entry point ------------------------------------------------------------------
    def preview(self, session: Session, *, name: str, locale: str, body: str, team: Team | None,
                person: Person | None, day: date, viewer: Person) -> PreviewResult:
        currency = self.settings.org.currency
        try:
            svc.validate(name, body, (locale,), currency=currency)
        except svc.TemplateRejected as err:
            return PreviewResult(text=None, error=err, note="preview.refused")
        scenario = SCENARIOS.get(name)
        miss: _Miss | None = None
        if scenario is not None and team is not None:
            try:
                message, variables, note = self._real(session, scenario, name, locale, team, person, day, viewer)
            except _Miss as found:
                miss = found
            else:
                try:
                    text = svc.render_checked(body, variables, locale)
                except svc.TemplateRejected as err:
                    return PreviewResult(text=None, error=err, source="real", note="preview.fails_on_real",
                                         note_vars=note)
                message = _with_text(message, text)
                return PreviewResult(text=text, source="real", note="preview.real." + (scenario.job or "say"),
                                     note_vars=note, platforms=self._platforms(message, team, person))
        context = svc.sample_context(name, locale, currency=currency)
        assert context is not None  # validate() refused a template without a sample
        text = svc.render_checked(body, context, locale)
        to: Any = ToTeam(team.id) if name in TEAM_POSTS and team is not None else ToPerson(
            person.id if person is not None else viewer.id)
        note_key = miss.key if miss is not None else ("preview.sample_only" if scenario is None
                                                      else "preview.sample_no_team")
        return PreviewResult(text=text, source="sample", note=note_key, note_vars=miss.variables if miss else {},
                             platforms=self._platforms(Outbound(to=to, text=text), team, person))

    # -- the code path, dry -----------------------------------------------------------------
    def _real(self, session: Session, scenario: Scenario, name: str, locale: str, team: Team,
              person: Person | None, day: date, viewer: Person) -> tuple[Outbound, dict[str, Any], dict[str, Any]]:
        capture = _Capture(template_overrides(session), name, locale)
        who = viewer if scenario.as_viewer else person
        note: dict[str, Any] = {"team": team.name, "day": day.isoformat(),
                                "person": person.name if person is not None else "", "viewer": viewer.name}
        savepoint = session.begin_nested()
        try:
            if scenario.job is not None:
                spec = JOBS[scenario.job]
                moment = datetime.combine(day, spec.local_time(team, self.settings), tzinfo=team_zone(team, self.settings))
                _, messages = job_messages(session=session, settings=self.settings, spec=spec, team=team, day=day,
                                           moment=moment, renderer=capture)
            else:
                if who is None:
                    raise _Miss("preview.sample_no_person")
                assert scenario.say is not None
                typed = scenario.say(session, who, team, day, person_locale(who, self.settings))
                if typed is None:
                    raise _Miss("preview.sample_no_data", **note)
                messages = self._say(session, capture, who, team, day, typed)
        except _Miss:
            savepoint.rollback()
            raise
        except Exception:  # a preview must never break the editor: say so and use the sample
            log.exception("preview of %s on real data failed", name)
            savepoint.rollback()
            raise _Miss("preview.sample_failed", **note) from None
        savepoint.rollback()
        marked = [(m, int(m.text.split("\x1fpreview-", 1)[1].split("\x1f", 1)[0]))
                  for m in messages if m.text and "\x1fpreview-" in m.text]
        if not marked:
            raise _Miss("preview.sample_not_sent", **note)
        chosen = next(((m, i) for m, i in marked if person is not None and isinstance(m.to, ToPerson)
                       and m.to.person_id == person.id), None)
        if chosen is None:
            chosen = next(((m, i) for m, i in marked if isinstance(m.to, ToTeam)), marked[0])
            if person is not None and isinstance(chosen[0].to, ToPerson) and not scenario.as_viewer:
                other = session.get(Person, chosen[0].to.person_id)
                note["shown_for"] = other.name if other is not None else ""
        return chosen[0], capture.calls[chosen[1]], note

    def _say(self, session: Session, renderer: Renderer, person: Person, team: Team, day: date,
             typed: str) -> list[Outbound]:
        zone = team_zone(person.team or team, self.settings)
        today = self.dispatcher.clock.now().astimezone(zone).date()
        if day >= today:
            moment = self.dispatcher.clock.now()
        else:
            moment = datetime.combine(day, time.fromisoformat(self.settings.schedule.evening), tzinfo=zone)
        inbound = Inbound("console", f"preview-{person.code}", person.code,
                          InboundKind.COMMAND if typed.startswith("/") else InboundKind.MESSAGE, text=typed,
                          received_at=moment)
        ctx = Context(session=session, settings=self.settings, clock=FixedClock(moment), renderer=renderer,
                      person=person, inbound=inbound)
        _, result = self.dispatcher.run_handler(ctx, inbound)
        return list(result.messages)

    # -- as each platform shows it ------------------------------------------------------------
    def _platforms(self, message: Outbound, team: Team | None, person: Person | None) -> list[PlatformView]:
        payload = message.payload()
        to_team = isinstance(message.to, ToTeam)
        me = person.code if person is not None else "me"
        target = team.code if to_team and team is not None else me
        enabled = set(self.settings.platforms)
        views = []
        for platform, build in _BUILDERS:
            kind = ("channel" if platform in ("console", "slack") else "chat") if to_team else "user"
            env = Envelope(key="preview", platform=platform, target_kind=kind, target=target, payload=payload)
            try:
                views.append(build(env, self.settings, me, platform in enabled))
            except Exception:  # noqa: BLE001 - one platform's converter must not hide the others
                log.exception("preview for %s failed", platform)
        # the chats people read first (those set up here before the others), the terminal chat last
        views.sort(key=lambda v: (v.platform == "console", not v.enabled))
        return views


def _with_text(message: Outbound, text: str) -> Outbound:
    import dataclasses

    marker = message.text.split("\x1fpreview-", 1)[1].split("\x1f", 1)[0]
    return dataclasses.replace(message, text=message.text.replace(MARK.format(marker), text))


def _dump(calls: list[tuple[str, dict[str, Any]]]) -> str:
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ("<image>" if k in ("base64", "image_b64", "media") else clean(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, bytes):
            return "<binary>"
        return value

    return "\n".join(f"{api}\n{json.dumps(clean(body), ensure_ascii=False, indent=2)}" for api, body in calls)


def _buttons(payload: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(b.get("label", "")) for b in payload.get("buttons") or [])


def _console_view(env: Envelope, settings: Settings, me: str, enabled: bool) -> PlatformView:
    from bot.platforms import console

    text = console.render_envelope(env, me=me).rstrip("\n")
    return PlatformView("console", enabled, text, _buttons(env.payload), _dump([("print", {"text": text})]),
                        image=bool(env.payload.get("image_b64")))


def _slack_view(env: Envelope, settings: Settings, me: str, enabled: bool) -> PlatformView:
    from bot.platforms.slack import convert

    calls = convert.planned_requests(env)
    texts = [str(body["text"]) for api, body in calls if api in ("chat.postMessage", "chat.update")
             and body.get("text")]
    if not texts:  # a modal (views.open): its title and first input's initial text
        for _, body in calls:
            view = body.get("view") or {}
            texts.append(str((view.get("title") or {}).get("text", "")))
            for block in view.get("blocks") or []:
                element = block.get("element") or {}
                if element.get("initial_value"):
                    texts.append(str(element["initial_value"]))
    return PlatformView("slack", enabled, "\n\n".join(texts), _buttons(env.payload), _dump(calls),
                        image=bool(env.payload.get("image_b64")))


def _wecom_view(env: Envelope, settings: Settings, me: str, enabled: bool) -> PlatformView:
    from bot.platforms.wecom import port

    agent = settings.wecom.agent_id or "1000002"
    calls = port.planned_requests(env, int(agent) if agent.isdigit() else agent,
                                  public_url=settings.server.public_url)
    texts = []
    for _, body in calls:
        if "markdown" in body:
            texts.append(str(body["markdown"].get("content", "")))
        elif "text" in body and isinstance(body["text"], dict):
            texts.append(str(body["text"].get("content", "")))
        elif "template_card" in body:
            card = body["template_card"]
            texts.append("\n".join(str(x) for x in ((card.get("main_title") or {}).get("title"),
                                                    (card.get("main_title") or {}).get("desc"),
                                                    card.get("sub_title_text")) if x))
    return PlatformView("wecom", enabled, "\n\n".join(texts), _buttons(env.payload), _dump(calls),
                        image=bool(env.payload.get("image_b64")))


def _dingtalk_view(env: Envelope, settings: Settings, me: str, enabled: bool) -> PlatformView:
    from bot.platforms.dingtalk import convert

    requests = convert.message_requests(env.payload, key=env.key, target_kind="chat" if env.target_kind != "user"
                                        else "user", target=env.target, robot_code="preview")
    calls = [(r.path, r.body) for r in requests]
    texts = []
    for _, body in calls:
        try:
            param = json.loads(body.get("msgParam") or "{}")
        except ValueError:
            param = {}
        if param.get("text"):
            texts.append(str(param["text"]))
    return PlatformView("dingtalk", enabled, "\n\n".join(texts), (), _dump(calls),
                        image=bool(env.payload.get("image_b64")))


def _feishu_view(env: Envelope, settings: Settings, me: str, enabled: bool) -> PlatformView:
    from bot.platforms.feishu import convert

    calls = convert.planned_requests(env.key, env.target_kind, env.target, env.payload)
    texts = [convert.card_markdown(body["content"]) for _, body in calls if body.get("msg_type") == "interactive"]
    return PlatformView("feishu", enabled, "\n\n".join(t for t in texts if t), _buttons(env.payload), _dump(calls),
                        image=bool(env.payload.get("image_b64")))


_BUILDERS: tuple[tuple[str, Callable[[Envelope, Settings, str, bool], PlatformView]], ...] = (
    ("wecom", _wecom_view),
    ("slack", _slack_view),
    ("dingtalk", _dingtalk_view),
    ("feishu", _feishu_view),
    ("console", _console_view),
)

__all__ = ["SCENARIOS", "RealDataPreviewer", "Scenario"]
