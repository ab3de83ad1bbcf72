"""`salesbot doctor`: check the configuration, database, platforms, team channels and calendar, in plain words."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import typer
from sqlalchemy import extract, func, select
from sqlalchemy.engine import make_url

from bot.core.db import Database
from bot.core.settings import ConfigError, Settings, find_config, load_settings

HTTP_TIMEOUT = 5.0
PLATFORM_NAMES = {"slack": "Slack", "wecom": "WeCom", "dingtalk": "DingTalk", "feishu": "Feishu"}

OK, WARN, FAIL = "ok", "warn", "FAIL"

# WeCom gettoken errcodes that mean the corp id or secret is wrong.
_WECOM_BAD_CREDENTIALS = {40001, 40013, 40056, 40091, 41002, 41004, 42001, 40014}
_SLACK_BAD_TOKEN = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                    "not_allowed_token_type", "no_permission"}


@dataclass(frozen=True)
class Check:
    status: str
    topic: str
    message: str


class Report:
    """Collects check lines and prints them with every secret scrubbed."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.checks: list[Check] = []
        self.secrets: list[str] = []
        self.echo = echo

    def add(self, status: str, topic: str, message: str) -> None:
        check = Check(status, topic, self.scrub(message))
        self.checks.append(check)
        self.echo(f"{check.status:<4}  {check.topic}: {check.message}")

    def scrub(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    @property
    def failed(self) -> bool:
        return any(c.status == FAIL for c in self.checks)



def _ask(report: Report, platform: str, client: httpx.Client, method: str, url: str, *, title: str, base: str,
         setting: str, what: str, **kwargs: Any) -> tuple[httpx.Response, Any] | None:
    """Call a platform's API; when it cannot be reached or answers without JSON, say what to check and
    return None."""
    try:
        response = client.request(method, url, **kwargs)
        return response, response.json()
    except httpx.HTTPError as exc:
        report.add(FAIL, platform, f"cannot reach the {title} API at {base} ({type(exc).__name__}): "
                                   f"check the network, a proxy, or {setting}")
    except ValueError:
        report.add(FAIL, platform, f"{what} answered HTTP {response.status_code} without JSON: check {setting}")
    return None

def check_feishu(report: Report, settings: Settings, client: httpx.Client, db: Database | None = None,
                 now: datetime | None = None) -> None:
    """Ask Feishu for a tenant_access_token with the app id and secret; check what http mode needs; say if
    the free edition's monthly quota is used up."""
    cfg = settings.feishu
    url = cfg.api_base_url.rstrip("/") + "/auth/v3/tenant_access_token/internal"
    answer = _ask(report, "feishu", client, "POST", url, title="Feishu", base=cfg.api_base_url,
                  setting="feishu.api_base_url", what="tenant_access_token",
                  json={"app_id": cfg.app_id, "app_secret": cfg.app_secret.get_secret_value()})
    if answer is None:
        return
    body = answer[1]
    code = body.get("code") if isinstance(body, dict) else None
    if code == 0 and body.get("tenant_access_token"):
        mode = ("the long connection (run `salesbot connect`)" if cfg.mode == "ws"
                else "HTTP events at POST /feishu/events")
        report.add(OK, "feishu", f"app id and secret accepted by tenant_access_token; receiving by {mode}")
    else:
        report.add(FAIL, "feishu", f"Feishu refused the credentials (code {code}): check feishu.app_id (cli_...) and "
                                   "feishu.app_secret on the app's Credentials & Basic Info page in the Feishu "
                                   "developer console")
    if cfg.mode == "http":
        missing = [f"feishu.{k}" for k, v in (("verification_token", cfg.verification_token),
                                              ("encrypt_key", cfg.encrypt_key)) if not v.get_secret_value()]
        if missing:
            report.add(FAIL, "feishu", f"feishu.mode is http but {' and '.join(missing)} "
                                       f"{'is' if len(missing) == 1 else 'are'} empty: every event would be refused; "
                                       "copy the Verification Token and Encrypt Key from Events & callbacks > "
                                       "Encryption strategy")
        if not settings.server.public_url:
            report.add(WARN, "feishu", "feishu.mode is http but server.public_url is empty: Feishu needs a public "
                                       "https address that reaches POST /feishu/events (or use feishu.mode = ws)")
    if db is not None:
        from bot.core.kvstate import quota_exceeded

        noted = quota_exceeded(db, platform="feishu", now=now or datetime.now(UTC))
        if noted is not None:
            report.add(FAIL, "feishu", f"Feishu refused sends since {noted.get('at', '?')[:16]} because the free "
                                       "edition's monthly API quota is used up (99991403): messages since then were "
                                       "not sent; it renews on the 1st, or upgrade the Feishu edition (see the README)")


def _secrets(settings: Settings) -> list[str]:
    values = [settings.slack.bot_token, settings.slack.signing_secret, settings.slack.app_token,
              settings.wecom.secret, settings.wecom.token, settings.wecom.encoding_aes_key,
              settings.dingtalk.client_secret, settings.feishu.app_secret, settings.feishu.verification_token,
              settings.feishu.encrypt_key]
    out = [v.get_secret_value() for v in values if v.get_secret_value()]
    try:
        password = make_url(settings.database.url).password
    except Exception:
        password = None
    if password:
        out.append(str(password))
    return out


def check_config(report: Report, config_path: str | None) -> Settings | None:
    """Find and parse the configuration; return the settings, or None when they cannot be used."""
    found = find_config(config_path)
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            report.add(FAIL, "config", f"{line} (fix it; config.example.toml documents every setting)")
        return None
    report.secrets.extend(_secrets(settings))
    if found:
        report.add(OK, "config", f"{found} read")
    else:
        report.add(OK, "config", "no config file found: using the built-in defaults and SALESBOT_* variables "
                                 "(copy config.example.toml to config.toml to change them)")
    return settings


def check_database(report: Report, settings: Settings) -> Database | None:
    """Connect, and check the schema is at the newest migration."""
    try:
        shown = make_url(settings.database.url).render_as_string(hide_password=True)
    except Exception:
        report.add(FAIL, "database", "database.url is not a database URL (expected e.g. sqlite:///salesbot.db or "
                                     "postgresql+psycopg://user:password@host/db)")
        return None
    try:
        db = Database(settings.database.url)
        with db.engine.connect():
            pass
    except Exception as exc:  # any driver error: say it plainly, never a traceback
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        report.add(FAIL, "database", f"cannot connect to {shown}: {type(getattr(exc, 'orig', None) or exc).__name__}"
                                     f"{': ' + reason[0] if reason else ''} (check database.url, that the server "
                                     "is running and the credentials are right)")
        return None
    try:
        if not db.has_tables():
            report.add(WARN, "database", f"{shown} is empty: it is set up on first use "
                                         "(or run `salesbot db upgrade` now)")
            return None
        if not db.is_current():
            report.add(FAIL, "database", f"{shown} is not at the newest migration: run `salesbot db upgrade`")
            return None
    except Exception as exc:
        report.add(FAIL, "database", f"{shown}: cannot read the migration state ({type(exc).__name__}): "
                                     "run `salesbot db upgrade`")
        return None
    report.add(OK, "database", f"{shown} reachable and migrated")
    return db


def check_slack(report: Report, settings: Settings, client: httpx.Client) -> None:
    """Call Slack's auth.test with the bot token."""
    slack = settings.slack
    url = slack.api_url.rstrip("/") + "/auth.test"
    answer = _ask(report, "slack", client, "POST", url, title="Slack", base=slack.api_url, setting="slack.api_url",
                  what=url, headers={"Authorization": f"Bearer {slack.bot_token.get_secret_value()}"})
    if answer is None:
        return
    body = answer[1]
    if isinstance(body, dict) and body.get("ok"):
        who = " ".join(filter(None, [f"as {body.get('user')}" if body.get("user") else "",
                                     f"in workspace {body.get('team')}" if body.get("team") else ""]))
        report.add(OK, "slack", f"bot token accepted by auth.test{' ' + who if who else ''}")
    else:
        error = str(body.get("error", "unknown_error")) if isinstance(body, dict) else "unknown_error"
        if error in _SLACK_BAD_TOKEN:
            report.add(FAIL, "slack", f"Slack refused the bot token ({error}): check slack.bot_token — it is the "
                                      "xoxb-… Bot User OAuth Token on the app's OAuth & Permissions page, "
                                      "and the app must be installed in the workspace")
        else:
            report.add(FAIL, "slack", f"auth.test failed ({error}): check slack.bot_token and slack.api_url")
    app_token = slack.app_token.get_secret_value()
    if app_token and not app_token.startswith("xapp-"):
        report.add(WARN, "slack", "slack.app_token does not start with xapp-: Socket Mode needs an app-level "
                                  "token with connections:write (Basic Information > App-Level Tokens)")


def check_wecom(report: Report, settings: Settings, client: httpx.Client) -> None:
    """Ask WeCom's gettoken for an access token with the corp id and secret."""
    wecom = settings.wecom
    if len(wecom.encoding_aes_key.get_secret_value()) != 43:
        report.add(FAIL, "wecom", "wecom.encoding_aes_key is not 43 characters long: copy the EncodingAESKey "
                                  "from the app's API receive settings again")
    if not str(wecom.agent_id).strip().isdigit():
        report.add(FAIL, "wecom", "wecom.agent_id is not a number: copy the app's AgentId from its page")
    url = wecom.api_base_url.rstrip("/") + "/gettoken"
    answer = _ask(report, "wecom", client, "GET", url, title="WeCom", base=wecom.api_base_url,
                  setting="wecom.api_base_url", what="gettoken",
                  params={"corpid": wecom.corp_id, "corpsecret": wecom.secret.get_secret_value()})
    if answer is None:
        return
    body = answer[1]
    code = body.get("errcode", -2) if isinstance(body, dict) else -2
    if code == 0 and body.get("access_token"):
        report.add(OK, "wecom", "corp id and secret accepted by gettoken")
    elif code in _WECOM_BAD_CREDENTIALS:
        report.add(FAIL, "wecom", f"WeCom refused the credentials (errcode {code}): the WeCom secret (or corp id) "
                                  "is wrong: check wecom.secret (the Secret on the app's page in the admin "
                                  "console, not the callback token) and wecom.corp_id (My Company > Company ID)")
    elif code in (60020, 48002):
        report.add(FAIL, "wecom", f"WeCom refused this server (errcode {code}): add this server's public IP to "
                                  "the app's trusted IPs in the admin console")
    else:
        report.add(FAIL, "wecom", f"gettoken failed (errcode {code}): check wecom.corp_id, wecom.secret and "
                                  "wecom.api_base_url")


def check_dingtalk(report: Report, settings: Settings, client: httpx.Client, db: Database | None = None,
                   now: datetime | None = None) -> None:
    """Ask DingTalk for an access token with the AppKey and AppSecret; say if the monthly quota is used up."""
    cfg = settings.dingtalk
    url = cfg.api_base_url.rstrip("/") + "/v1.0/oauth2/accessToken"
    answer = _ask(report, "dingtalk", client, "POST", url, title="DingTalk", base=cfg.api_base_url,
                  setting="dingtalk.api_base_url", what="accessToken",
                  json={"appKey": cfg.client_id, "appSecret": cfg.client_secret.get_secret_value()})
    if answer is None:
        return
    response, body = answer
    code = str(body.get("code") or body.get("errcode") or "") if isinstance(body, dict) else ""
    if response.status_code == 200 and isinstance(body, dict) and body.get("accessToken"):
        mode = ("Stream (run `salesbot connect`, two of them for safety)" if cfg.mode == "stream"
                else "HTTP callbacks at POST /dingtalk/callback")
        report.add(OK, "dingtalk", f"AppKey and AppSecret accepted; receiving by {mode}; buttons as "
                                   + ("cards (template " + cfg.card_template_id + ")" if cfg.card_template_id
                                      else "commands to type (no dingtalk.card_template_id)"))
    elif "90020" in code or "ApiCountLimit" in code:
        report.add(FAIL, "dingtalk", "DingTalk says this organisation's monthly API calls are used up (90020): "
                                     "nothing can be sent until next month or an upgraded edition")
    else:
        report.add(FAIL, "dingtalk", f"DingTalk refused the credentials (HTTP {response.status_code} {code}): check "
                                     "dingtalk.client_id (the AppKey) and dingtalk.client_secret (the AppSecret) "
                                     "on the app's credentials page in the DingTalk developer console")
    if cfg.mode == "http" and not settings.server.public_url and cfg.card_template_id:
        report.add(WARN, "dingtalk", "dingtalk.mode is http but server.public_url is empty: card clicks cannot be "
                                     "registered, so buttons are sent as commands to type")
    if db is not None:
        from bot.core.kvstate import quota_exceeded

        noted = quota_exceeded(db, platform="dingtalk", now=now or datetime.now(UTC))
        if noted is not None:
            report.add(FAIL, "dingtalk", f"DingTalk refused sends since {noted.get('at', '?')[:16]} because the "
                                         "organisation's monthly API quota is used up (90020): messages since then "
                                         "were not sent; the free edition allows 5,000 calls a month (see the README)")


def _partial(report: Report, settings: Settings) -> None:
    """Warn about a platform that is half configured (and so not enabled)."""
    slack = settings.slack
    slack_keys = {"bot_token": slack.bot_token.get_secret_value(),
                  "signing_secret": slack.signing_secret.get_secret_value()}
    if any(slack_keys.values()) and not slack.enabled:
        empty = [f"slack.{k}" for k, v in slack_keys.items() if not v]
        missing = ", ".join(empty) + (" is" if len(empty) == 1 else " are")
        report.add(WARN, "slack", f"not enabled: {missing} empty (both bot_token and signing_secret are needed)")
    wecom = settings.wecom
    wecom_keys = {"corp_id": wecom.corp_id, "agent_id": wecom.agent_id, "secret": wecom.secret.get_secret_value(),
                  "token": wecom.token.get_secret_value(),
                  "encoding_aes_key": wecom.encoding_aes_key.get_secret_value()}
    if any(wecom_keys.values()) and not wecom.enabled:
        empty = [f"wecom.{k}" for k, v in wecom_keys.items() if not v]
        missing = ", ".join(empty) + (" is" if len(empty) == 1 else " are")
        report.add(WARN, "wecom", f"not enabled: {missing} empty (all five wecom settings are needed)")
    dingtalk = settings.dingtalk
    if bool(dingtalk.client_id) != bool(dingtalk.client_secret.get_secret_value()):
        empty = "dingtalk.client_id" if not dingtalk.client_id else "dingtalk.client_secret"
        report.add(WARN, "dingtalk", f"not enabled: {empty} is empty (both client_id and client_secret are needed)")
    feishu = settings.feishu
    if bool(feishu.app_id) != bool(feishu.app_secret.get_secret_value()):
        empty = "feishu.app_id" if not feishu.app_id else "feishu.app_secret"
        report.add(WARN, "feishu", f"not enabled: {empty} is empty (both app_id and app_secret are needed)")


def check_platforms(report: Report, settings: Settings, db: Database | None = None,
                    now: datetime | None = None) -> None:
    _partial(report, settings)
    if settings.platforms == ["console"]:
        report.add(OK, "platforms", "none configured: the console works (`salesbot chat --user CODE`); set the "
                                    "[slack], [wecom], [dingtalk] or [feishu] settings to connect a chat platform")
        return
    with httpx.Client(timeout=HTTP_TIMEOUT, trust_env=True) as client:
        if settings.slack.enabled:
            check_slack(report, settings, client)
        if settings.wecom.enabled:
            check_wecom(report, settings, client)
        if settings.dingtalk.enabled:
            check_dingtalk(report, settings, client, db, now)
        if settings.feishu.enabled:
            check_feishu(report, settings, client, db, now)


def check_teams(report: Report, settings: Settings, db: Database) -> None:
    """Warn about teams that have nowhere to post on an enabled platform."""
    from models import TEAM_CHAT_COLUMNS, Person, Team, TeamChat

    with db.unit_of_work() as session:
        teams = list(session.scalars(select(Team).order_by(Team.code)))
        people = session.scalar(select(func.count()).select_from(Person)) or 0
        has_chat = {(tid, p) for tid, p in session.execute(select(TeamChat.team_id, TeamChat.platform).distinct())}
    if not teams:
        report.add(WARN, "teams", "no teams yet: import regions.csv, teams.csv and users.csv "
                                  "(see examples/) or run `salesbot demo`")
        return
    missing = 0
    for platform in settings.platforms:
        columns = [column for column, (p, _) in TEAM_CHAT_COLUMNS.items() if p == platform]
        if not columns:  # the console posts to every team
            continue
        named = columns[0] if len(columns) == 1 else "either " + " or ".join(columns)
        lacking = "no " + columns[0] if len(columns) == 1 else "neither " + " nor ".join(columns)
        for team in teams:
            if (team.id, platform) not in has_chat:
                missing += 1
                name = PLATFORM_NAMES.get(platform, platform)
                report.add(WARN, "teams", f"team {team.code} has {lacking}: its team posts (evening leaderboard, "
                                          f"weekly review) have nowhere to go on {name} (set {named} in "
                                          "teams.csv and import again)")
    if not missing:
        report.add(OK, "teams", f"{len(teams)} team(s), {people} people")


def check_calendar(report: Report, settings: Settings, db: Database | None, now: datetime) -> None:
    """Check the holiday calendar knows this year and next."""
    from services.calendar import WorkCalendar

    if settings.org.holidays != "CN":
        report.add(OK, "calendar", "plain Monday to Friday (org.holidays = none)")
        return
    this_year = now.astimezone(ZoneInfo(settings.org.timezone)).year
    imported: set[int] = set()
    if db is not None:
        from models import Holiday

        with db.unit_of_work() as session:
            imported = {int(y) for (y,) in session.execute(select(extract("year", Holiday.day)).distinct())}
    calendar = WorkCalendar("CN")
    quiet = logging.getLogger("salesbot.calendar")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # this check says it in its own line
    try:
        published = {year: calendar.is_published(year) for year in (this_year, this_year + 1)}
    finally:
        quiet.setLevel(level)
    for year in (this_year, this_year + 1):
        if published[year]:
            report.add(OK, "calendar", f"China's official {year} holidays and make-up workdays are known")
        elif year in imported:
            report.add(OK, "calendar", f"{year}: using the days imported from holidays.csv")
        else:
            report.add(WARN, "calendar", f"China's official {year} schedule is not known yet: workdays follow the "
                                         "rules without make-up days; when it is announced, import holidays.csv "
                                         "(`salesbot import holidays holidays.csv`)")


def run_doctor(config_path: str | None, *, echo: Callable[[str], None] | None = None,
               now: datetime | None = None) -> int:
    """Run every check, one line each; return 0 when nothing failed, 1 otherwise."""
    report = Report(echo or typer.echo)
    settings = check_config(report, config_path)
    if settings is None:
        return 1
    db = check_database(report, settings)
    try:
        check_platforms(report, settings, db, now)
        if db is not None:
            check_teams(report, settings, db)
        check_calendar(report, settings, db, now or datetime.now(UTC))
    finally:
        if db is not None:
            db.dispose()
    return 1 if report.failed else 0
