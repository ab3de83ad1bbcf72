"""A fake DingTalk API on loopback (api and oapi on one real HTTP server in a thread) that records what
it is sent and misbehaves on cue: expiring tokens, 90018 rate limits, 90020 quota errors, throttled
recipients inside a 200, invalid recipients, HTTP 500 and slow answers (a timeout after delivery)."""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_http import LoopbackServer, json_server

# Outcomes to cue with fail_next() or chaos.
RATE = "rate"  # HTTP 403 Forbidden.AccessDenied.QpsLimitForAppkeyAndApi
RATE_90018 = "90018"  # errcode 90018 in the body
QUOTA = "quota"  # 90020: the organisation's monthly API calls are used up
THROTTLE = "throttle"  # HTTP 200, the recipients in flowControlledStaffIdList (not delivered)
INVALID = "invalid"  # HTTP 200, the recipients in invalidStaffIdList
HTTP_500 = "http500"
SLOW = "slow"  # delivered, but answered after `slow_seconds` (longer than the bot's timeout)
CARD_GONE = "card_gone"  # PUT card/instances: no such card

SEND_PATHS = ("v1.0/robot/oToMessages/batchSend", "v1.0/robot/groupMessages/send")


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    outcome: str  # "ok" or the misbehaviour
    at: float

    @property
    def param(self) -> dict[str, Any]:
        """The decoded msgParam of a robot send."""
        raw = self.body.get("msgParam")
        return json.loads(raw) if isinstance(raw, str) else {}


@dataclass
class Delivered:
    """A message a person or a group sees: markdown, an image or a card."""

    to: str  # user id, or the openConversationId of a group
    kind: str  # sampleMarkdown, sampleImageMsg, card
    param: dict[str, Any]
    call: Call


@dataclass
class FakeDingtalk:
    client_id: str = "dingtestappkey"
    client_secret: str = "dt-app-secret-0123456789"
    clock: Callable[[], float] = time.time
    calls: list[Call] = field(default_factory=list)
    delivered: list[Delivered] = field(default_factory=list)
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)  # outTrackId -> {"params", "updates", "to"}
    tokens_issued: int = 0
    expire_every: int | None = None  # expire the token after this many accepted authenticated calls
    slow_seconds: float = 1.5
    chaos_rate: float = 0.0
    chaos_outcomes: tuple[str, ...] = (RATE, RATE_90018, THROTTLE, HTTP_500)
    chaos_paths: tuple[str, ...] = SEND_PATHS
    chaos_rng: random.Random = field(default_factory=lambda: random.Random(11))
    media: dict[str, int] = field(default_factory=dict)  # media_id -> bytes uploaded

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._valid_token: str | None = None
        self._since_token = 0
        self._script: dict[str, list[str]] = defaultdict(list)
        self._seq = itertools.count(1)
        self._server: LoopbackServer | None = None
        self.extra_routes: dict[tuple[str, str], Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]] = {}

    # -- cues -------------------------------------------------------------------------------
    def fail_next(self, path: str, *outcomes: str) -> None:
        """Answer the next calls to `path` (e.g. "v1.0/robot/oToMessages/batchSend") so, then normally."""
        with self._lock:
            self._script[path.lstrip("/")].extend(outcomes)

    def expire_token(self) -> None:
        with self._lock:
            self._valid_token = None

    # -- views ------------------------------------------------------------------------------
    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path.lstrip("/")]

    def to(self, who: str) -> list[Delivered]:
        return [d for d in self.delivered if d.to == who]

    def texts(self, who: str) -> list[str]:
        return [str(d.param.get("text") or "") for d in self.to(who) if d.kind == "sampleMarkdown"]

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def oapi_url(self) -> str:
        return self.url + "oapi/"

    # -- the API ----------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        """Return (HTTP status, JSON answer, seconds to wait before answering)."""
        with self._lock:
            api = path.lstrip("/")
            now = self.clock()
            if api == "v1.0/oauth2/accessToken":
                if body.get("appKey") != self.client_id or body.get("appSecret") != self.client_secret:
                    return self._log(method, api, query, body, "refused", now, 400,
                                     {"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"})
                self.tokens_issued += 1
                self._valid_token = f"DTTOKEN{self.tokens_issued}"
                self._since_token = 0
                return self._log(method, api, query, body, "ok", now, 200,
                                 {"accessToken": self._valid_token, "expireIn": 7200})
            route = self.extra_routes.get((method, api))
            if route is not None:
                status, answer = route(body)
                return self._log(method, api, query, body, "ok", now, status, answer)
            oapi = api.startswith("oapi/")
            token = query.get("access_token") if oapi else headers.get("x-acs-dingtalk-access-token")
            if not token or token != self._valid_token:
                if oapi:
                    return self._log(method, api, query, body, "token", now, 200,
                                     {"errcode": 40014, "errmsg": "不合法的access_token"})
                return self._log(method, api, query, body, "token", now, 401,
                                 {"code": "InvalidAuthentication", "message": "不合法的access_token"})
            scripted = self._script[api].pop(0) if self._script[api] else None
            if scripted is None and self.chaos_rate and api in self.chaos_paths \
                    and self.chaos_rng.random() < self.chaos_rate:
                scripted = self.chaos_rng.choice(self.chaos_outcomes)
            self._since_token += 1
            if self.expire_every and self._since_token >= self.expire_every:
                self._valid_token = None  # this call still works; the next one finds it expired
            if scripted == RATE:
                return self._log(method, api, query, body, scripted, now, 403, {
                    "code": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
                    "message": "调用该接口触发的限流,API的QPS超过限流值"})
            if scripted == RATE_90018:
                return self._log(method, api, query, body, scripted, now, 200 if oapi else 403,
                                 {"errcode": 90018, "errmsg": "当前企业调用该接口超过限流阈值"} if oapi else
                                 {"code": "90018", "message": "当前企业调用该接口超过限流阈值"})
            if scripted == QUOTA:
                return self._log(method, api, query, body, scripted, now, 200 if oapi else 403,
                                 {"errcode": 90020, "errmsg": "ApiCountLimitForOrg"} if oapi else
                                 {"code": "Forbidden.AccessDenied.ApiCountLimitForOrg",
                                  "message": "90020 当前企业本月调用次数已超过上限"})
            if scripted == HTTP_500:
                return self._log(method, api, query, body, scripted, now, 500, {"code": "ServiceUnavailable"})
            if api in SEND_PATHS:
                return self._send(method, api, query, body, scripted, now)
            if api == "v1.0/card/instances/createAndDeliver":
                return self._create_card(method, api, query, body, now)
            if api == "v1.0/card/instances" and method == "PUT":
                track = str(body.get("outTrackId") or "")
                if scripted == CARD_GONE or track not in self.cards:
                    return self._log(method, api, query, body, CARD_GONE, now, 400,
                                     {"code": "param.cardNotExist", "message": "卡片不存在"})
                self.cards[track]["updates"].append(body["cardData"]["cardParamMap"])
                self.cards[track]["params"] = dict(self.cards[track]["params"]) | body["cardData"]["cardParamMap"]
                return self._log(method, api, query, body, "ok", now, 200, {"success": True, "result": True})
            if api == "v1.0/card/callbacks/register":
                return self._log(method, api, query, body, "ok", now, 200, {"success": True})
            if api == "oapi/media/upload":
                media_id = f"@lADPMEDIA{next(self._seq)}"
                self.media[media_id] = int(body.get("_bytes") or 0)
                return self._log(method, api, query, body, "ok", now, 200,
                                 {"errcode": 0, "errmsg": "ok", "type": "image", "media_id": media_id})
            return self._log(method, api, query, body, "unknown", now, 404, {"code": "NotFound"})

    def _send(self, method: str, api: str, query: dict[str, str], body: dict[str, Any], scripted: str | None,
              now: float) -> tuple[int, dict[str, Any], float]:
        group = api.endswith("groupMessages/send")
        recipients = [str(body.get("openConversationId"))] if group else [str(u) for u in body.get("userIds") or []]
        answer: dict[str, Any] = {"processQueryKey": f"PQK{next(self._seq)}"}
        if not group:
            answer |= {"invalidStaffIdList": [], "flowControlledStaffIdList": []}
        if scripted == THROTTLE and not group:
            answer["flowControlledStaffIdList"] = recipients
            return self._log(method, api, query, body, scripted, now, 200, answer)
        if scripted == INVALID and not group:
            answer["invalidStaffIdList"] = recipients
            return self._log(method, api, query, body, scripted, now, 200, answer)
        call = Call(method, api, query, body, scripted or "ok", now)
        self.calls.append(call)
        param = json.loads(body.get("msgParam") or "{}")
        for who in recipients:
            self.delivered.append(Delivered(who, str(body.get("msgKey")), param, call))
        return 200, answer, self.slow_seconds if scripted == SLOW else 0.0

    def _create_card(self, method: str, api: str, query: dict[str, str], body: dict[str, Any],
                     now: float) -> tuple[int, dict[str, Any], float]:
        track = str(body.get("outTrackId") or "")
        space = str(body.get("openSpaceId") or "")
        kind, _, who = space.removeprefix("dtv1.card//").partition(".")
        params = dict(body["cardData"]["cardParamMap"])
        self.cards[track] = {"params": params, "updates": [], "to": who, "template": body.get("cardTemplateId"),
                             "callbackType": body.get("callbackType")}
        call = Call(method, api, query, body, "ok", now)
        self.calls.append(call)
        self.delivered.append(Delivered(who, "card", params, call))
        return 200, {"success": True, "result": {"outTrackId": track, "deliverResults": [
            {"spaceType": kind, "spaceId": who, "success": True}]}}, 0.0

    def _log(self, method: str, api: str, query: dict[str, str], body: dict[str, Any], outcome: str, now: float,
             status: int, answer: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        self.calls.append(Call(method, api, query, body, outcome, now))
        return status, answer, 0.0

    # -- server -----------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[FakeDingtalk]:
        def handle(method: str, path: str, query: dict[str, str], headers: dict[str, str],
                   body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
            status, answer, delay = self.handle(method, path, query, headers, body)
            if delay:
                time.sleep(delay)
            return status, answer, {}

        with json_server(handle) as server:
            self._server = server
            yield self


# -- a whole bot wired to the fake, for tests ---------------------------------------------------

DINGTALK_IDS = {"zhang": "dt_zhang", "li": "dt_li", "wang": "dt_wang", "mgr_east": "dt_meast",
                "mgr_south": "dt_msouth", "admin": "dt_admin"}


def add_dingtalk_ids(db: Any, ids: dict[str, str] | None = None) -> None:
    """Give people of tests.support.org a DingTalk user id (staffId) beside their other ids."""
    from sqlalchemy import select

    from models import Identity, Person

    with db.unit_of_work() as s:
        for code, staff in (ids or DINGTALK_IDS).items():
            pid = s.scalar(select(Person.id).where(Person.code == code))
            s.add(Identity(person_id=pid, platform="dingtalk", external_id=staff))


def add_dingtalk_reps(db: Any, count: int, *, team_of: str = "zhang") -> list[int]:
    """Add `count` reps (rep0, rep1 ... with DingTalk ids dt_rep0 ...) to the team of `team_of`; return their ids."""
    from sqlalchemy import select

    from models import Identity, Person

    with db.unit_of_work() as s:
        team_id = s.scalar(select(Person.team_id).where(Person.code == team_of))
        ids = []
        for i in range(count):
            rep = Person(code=f"rep{i}", name=f"代表{i}", role="rep", team_id=team_id)
            s.add(rep)
            s.flush()
            s.add(Identity(person_id=rep.id, platform="dingtalk", external_id=f"dt_rep{i}"))
            ids.append(rep.id)
        return ids


def sign_headers(secret: str, timestamp_ms: int) -> dict[str, str]:
    """The headers DingTalk puts on an HTTP callback."""
    import base64
    import hashlib
    import hmac

    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return {"timestamp": str(timestamp_ms), "sign": base64.b64encode(digest).decode(),
            "Content-Type": "application/json"}


def robot_message(*, sender: str, text: str, msg_id: str, create_at_ms: int, group: str | None = None,
                  robot_code: str = "dingtestappkey") -> dict[str, Any]:
    """A robot message as DingTalk sends it (Stream data or HTTP body); in a group the text starts with a space."""
    body: dict[str, Any] = {
        "conversationId": group or f"cidDM{sender}", "chatbotCorpId": "dingcorp", "chatbotUserId": "$:LWCP_v1:$bot",
        "msgId": msg_id, "senderNick": sender, "isAdmin": False, "senderStaffId": sender,
        "sessionWebhookExpiredTime": create_at_ms + 5_400_000, "createAt": create_at_ms,
        "senderCorpId": "dingcorp", "conversationType": "2" if group else "1", "senderId": f"$:LWCP_v1:${sender}",
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=x", "robotCode": robot_code,
        "msgtype": "text", "text": {"content": (" " + text) if group else text},
    }
    if group:
        body["isInAtList"] = True
        body["atUsers"] = [{"dingtalkId": "$:LWCP_v1:$bot"}]
        body["conversationTitle"] = "销售群"
    return body


def card_click(*, user: str, out_track_id: str, action: str, value: str) -> dict[str, Any]:
    """A card button press as DingTalk sends it (Stream data of /v1.0/card/instances/callback, or HTTP)."""
    content = {"cardPrivateData": {"actionIds": ["btn_" + action], "params": {"action": action, "value": value}}}
    return {"extension": "{}", "corpId": "dingcorp", "userId": user, "type": "actionCallback",
            "outTrackId": out_track_id, "content": json.dumps(content), "spaceType": "im", "userIdType": 1}


@dataclass
class DingtalkEnv:
    """The bot (App + DingtalkPort) on a real database, the fake API, and an HTTP client for callbacks."""

    fake: FakeDingtalk
    app: Any
    port: Any
    http: Any
    clock: Any

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    def post(self, body: dict[str, Any], *, timestamp_ms: int | None = None, secret: str | None = None,
             headers: dict[str, str] | None = None) -> Any:
        ts = self.now_ms() if timestamp_ms is None else timestamp_ms
        sent = sign_headers(self.fake.client_secret if secret is None else secret, ts) if headers is None else headers
        resp = self.http.post("/dingtalk/callback", content=json.dumps(body, ensure_ascii=False).encode(),
                              headers=sent)
        self.app.handling.join()  # the answer went out first; the handling runs on its own threads
        return resp

    def say(self, sender: str, text: str, msg_id: str, **kw: Any) -> Any:
        return self.post(robot_message(sender=sender, text=text, msg_id=msg_id, create_at_ms=self.now_ms(), **kw))

    def drain(self, *, step: float = 2.0, rounds: int = 200) -> None:
        """Deliver what is due, moving the clock on, until the outbox is empty."""
        for _ in range(rounds):
            self.app.outbox.deliver()
            if self.app.outbox.backlog() == 0:
                return
            self.clock.advance(seconds=step)
        raise AssertionError("outbox not drained")


def dingtalk_settings(database_url: str, fake: FakeDingtalk, **overrides: Any) -> Any:
    from tests.conftest import make_settings

    data: dict[str, Any] = {
        "dingtalk": {"client_id": fake.client_id, "client_secret": fake.client_secret, "mode": "http",
                     "api_base_url": fake.url, "oapi_base_url": fake.oapi_url},
        "outbox": {"http_timeout_seconds": 5.0, "base_backoff_seconds": 0.05},
    }
    for key, value in overrides.items():
        data.setdefault(key, {}).update(value)
    return make_settings(database_url, **data)


@contextmanager
def dingtalk_env(db: Any, clock: Any, database_url: str, **overrides: Any) -> Iterator[DingtalkEnv]:
    """Start the fake and wire an App whose only platform is DingTalk (HTTP mode), pointed at it."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from bot.platforms.dingtalk.port import DingtalkPort
    from bot.platforms.dingtalk.routes import dingtalk_routes
    from bot.wiring import App

    fake = FakeDingtalk(clock=lambda: clock.now().timestamp())
    with fake.running():
        settings = dingtalk_settings(database_url, fake, **overrides)
        port = DingtalkPort(settings, db=db, clock=clock)
        port.client.forget_token()
        app = App(settings, db=db, clock=clock, ports={"dingtalk": port}, migrate=False)
        with TestClient(Starlette(routes=dingtalk_routes(app))) as http:
            yield DingtalkEnv(fake, app, port, http, clock)
        app.handling.close()
        port.close()
