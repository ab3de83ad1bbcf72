"""A fake WeCom API on loopback (a real HTTP server in a thread) that records calls and misbehaves on cue."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_http import LoopbackServer, json_server

PER_MEMBER_PER_MINUTE = 30
HTTP_500 = 500  # an outcome: answer HTTP 500 instead of a JSON errcode
SPENT_CODE = 40058  # what the fake answers for an unknown or spent response_code


@dataclass
class Call:
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    outcome: int | str  # errcode, "http500", or "dropped"
    at: float


@dataclass
class FakeWecom:
    corp_id: str = "ww_test_corp"
    secret: str = "s3cret-value"
    clock: Callable[[], float] = time.time
    calls: list[Call] = field(default_factory=list)
    delivered: list[Call] = field(default_factory=list)  # accepted and shown to the member
    dropped: list[Call] = field(default_factory=list)  # errcode 0 but silently dropped (over 30/min)
    tokens_issued: int = 0
    expire_every: int | None = None  # expire the token after this many accepted authenticated calls
    chaos_rate: float = 0.0
    chaos_outcomes: tuple[int, ...] = (45009, -1, HTTP_500)
    chaos_paths: tuple[str, ...] = ("message/send",)
    chaos_rng: random.Random = field(default_factory=lambda: random.Random(7))
    # The silent drop: more than this many message/send to one member within `window_seconds` (of `clock`)
    # are answered errcode 0 and never shown. 0 turns the limit off (a bench's unlimited baseline).
    per_member_per_minute: int = PER_MEMBER_PER_MINUTE
    window_seconds: float = 60.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._valid_token: str | None = None
        self._since_token = 0
        self._script: dict[str, list[int]] = defaultdict(list)
        self._per_member: dict[str, list[float]] = defaultdict(list)
        self._codes: dict[str, bool] = {}  # response_code -> spent
        self._code_seq = itertools.count(1)
        self._msg_seq = itertools.count(1)
        self._server: LoopbackServer | None = None

    # -- cues -------------------------------------------------------------------------------
    def fail_next(self, path: str, *outcomes: int) -> None:
        """Answer the next calls to `path` with these errcodes (or HTTP_500), then normally."""
        with self._lock:
            self._script[path].extend(outcomes)

    def expire_token(self) -> None:
        with self._lock:
            self._valid_token = None

    def issue_response_code(self) -> str:
        """Return a fresh response_code, as a card click would carry."""
        with self._lock:
            code = f"RC{next(self._code_seq):06d}-" + "x" * 40
            self._codes[code] = False
            return code

    # -- views ------------------------------------------------------------------------------
    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def max_in_window(self, member: str, window: float = 60.0) -> int:
        """The most messages `member` got in any `window` seconds (delivered or dropped)."""
        times = sorted(c.at for c in self.delivered + self.dropped if c.body.get("touser") == member)
        best = 0
        for i, t in enumerate(times):
            best = max(best, sum(1 for u in times[i:] if u - t < window))
        return best

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/cgi-bin/"

    def webhook_url(self, key: str) -> str:
        return f"{self.url}webhook/send?key={key}"

    # -- the API ----------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            api = path.removeprefix("/cgi-bin/")
            now = self.clock()
            if api == "gettoken":
                if query.get("corpid") != self.corp_id or query.get("corpsecret") != self.secret:
                    return self._log(api, query, body, 40001, now)
                self.tokens_issued += 1
                self._valid_token = f"TOKEN{self.tokens_issued}"
                self._since_token = 0
                return self._log(api, query, body, 0, now, access_token=self._valid_token, expires_in=7200)
            if api != "webhook/send":
                token = query.get("access_token")
                if not token or not token.startswith("TOKEN"):
                    return self._log(api, query, body, 40014, now)
                if token != self._valid_token:
                    return self._log(api, query, body, 42001, now)
            scripted = self._script[api].pop(0) if self._script[api] else None
            if scripted is None and self.chaos_rate and api in self.chaos_paths \
                    and self.chaos_rng.random() < self.chaos_rate:
                scripted = self.chaos_rng.choice(self.chaos_outcomes)
            if scripted is not None:
                if scripted == HTTP_500:
                    self.calls.append(Call(api, query, body, "http500", now))
                    return 500, {}
                return self._log(api, query, body, scripted, now)
            if api != "webhook/send":
                self._since_token += 1
                if self.expire_every and self._since_token >= self.expire_every:
                    self._valid_token = None  # this call still works; the next one finds it expired
            if api == "message/update_template_card":
                code = body.get("response_code")
                if code not in self._codes or self._codes[code]:
                    return self._log(api, query, body, SPENT_CODE, now)
                self._codes[code] = True
                return self._deliver(api, query, body, now)
            if api == "media/upload":
                return self._log(api, query, body, 0, now, type="image", media_id=f"MEDIA{next(self._msg_seq)}")
            if api in ("message/send", "appchat/send", "webhook/send"):
                return self._deliver(api, query, body, now)
            return 404, {"errcode": 404, "errmsg": "no such path"}

    def _deliver(self, api: str, query: dict[str, str], body: dict[str, Any], now: float) -> tuple[int, dict[str, Any]]:
        extra: dict[str, Any] = {"msgid": f"MSG{next(self._msg_seq)}"}
        member = body.get("touser") if api == "message/send" else None
        if body.get("msgtype") == "template_card" and api == "message/send":
            code = f"RC{next(self._code_seq):06d}-" + "y" * 40
            self._codes[code] = False
            extra["response_code"] = code
        call = Call(api, query, body, 0, now)
        self.calls.append(call)
        if member and self.per_member_per_minute:
            recent = [t for t in self._per_member[member] if now - t < self.window_seconds]
            self._per_member[member] = recent + [now]
            if len(recent) >= self.per_member_per_minute:
                call.outcome = "dropped"
                self.dropped.append(call)
                return 200, {"errcode": 0, "errmsg": "ok"} | extra
        self.delivered.append(call)
        return 200, {"errcode": 0, "errmsg": "ok"} | extra

    def _log(self, api: str, query: dict[str, str], body: dict[str, Any], errcode: int, now: float,
             **extra: Any) -> tuple[int, dict[str, Any]]:
        self.calls.append(Call(api, query, body, errcode, now))
        return 200, {"errcode": errcode, "errmsg": "ok" if errcode == 0 else f"fake error {errcode}"} | extra

    # -- server -----------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[FakeWecom]:
        def handle(method: str, path: str, query: dict[str, str], headers: dict[str, str],
                   body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
            return *self.handle(method, path, query, body), {}

        with json_server(handle) as self._server:
            yield self


# -- a whole bot wired to the fake, for tests ---------------------------------------------------

AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"  # 43 characters, as WeCom issues them
CALLBACK_TOKEN = "cb-token-QDG6eK"
AGENT_ID = "1000002"


@dataclass
class WecomEnv:
    """The bot (App + WecomPort) on a real database, the fake API, and an HTTP client for callbacks."""

    fake: FakeWecom
    app: Any
    port: Any
    http: Any
    signer: Any
    clock: Any

    def now_ts(self) -> int:
        return int(self.clock.now().timestamp())

    def post_xml(self, xml: str, **kw: Any) -> Any:
        query, body = self.signer.message(xml, timestamp=kw.pop("timestamp", self.now_ts()), **kw)
        resp = self.http.post(f"/wecom/callback?{query}", content=body, headers={"Content-Type": "text/xml"})
        self.app.handling.join()  # the answer went out first; the handling runs on its own threads
        return resp


@contextmanager
def wecom_env(db: Any, clock: Any, database_url: str) -> Iterator[WecomEnv]:
    """Start the fake and wire an App whose only platform is WeCom, pointed at it."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from bot.platforms.wecom.port import WecomPort
    from bot.platforms.wecom.routes import wecom_routes
    from bot.wiring import App
    from tests.conftest import make_settings
    from tests.support.wecom_crypto import CallbackSigner

    fake = FakeWecom(clock=lambda: clock.now().timestamp())
    with fake.running():
        settings = make_settings(database_url, wecom={
            "corp_id": fake.corp_id, "agent_id": AGENT_ID, "secret": fake.secret, "token": CALLBACK_TOKEN,
            "encoding_aes_key": AES_KEY, "api_base_url": fake.url,
        }, outbox={"http_timeout_seconds": 5.0})
        port = WecomPort(settings, db=db, clock=clock)
        port.client.forget_token()
        app = App(settings, db=db, clock=clock, ports={"wecom": port}, migrate=False)
        signer = CallbackSigner(token=CALLBACK_TOKEN, encoding_aes_key=AES_KEY, corp_id=fake.corp_id)
        with TestClient(Starlette(routes=wecom_routes(app))) as http:
            yield WecomEnv(fake, app, port, http, signer, clock)
        port.close()
