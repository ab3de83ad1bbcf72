"""A fake Feishu on loopback: the Open API (records what we send, misbehaves on cue) and the long
connection (the endpoint lark-oapi asks for a WebSocket URL, and a WebSocket server speaking its
protobuf frames) that the real `lark_oapi.ws.Client` connects to."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_http import LoopbackServer, json_server
from tests.support.feishu_events import APP_ID, APP_SECRET

RATE = "rate"  # HTTP 429, code 99991400, x-ogw-ratelimit-reset
QUOTA = "quota"  # HTTP 429, code 99991403 (the free edition's monthly quota)
HTTP_500 = "http500"
PASS = "pass"  # answer this call normally (to fail a later one)
BAD_RECIPIENT = "bad_recipient"  # HTTP 400, code 230013 (the user cannot use the app)
CARD_LIMIT = 30_000
PER_TARGET_PER_SECOND = 5
UUID_TTL = 3600.0


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    outcome: str  # "ok", "dup", or what it was answered with
    at: float


@dataclass
class Message:
    message_id: str
    receive_id: str
    receive_id_type: str
    msg_type: str
    content: dict[str, Any]
    uuid: str | None
    updates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeFeishu:
    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    clock: Callable[[], float] = time.time
    rate_reset: int = 1  # seconds in x-ogw-ratelimit-reset
    # Answer 429 past this many messages a second to one target (0: no limit).
    per_target_per_second: int = PER_TARGET_PER_SECOND
    calls: list[Call] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # delivered, in order
    tokens_issued: int = 0
    expire_every: int | None = None  # the token expires after this many accepted authenticated calls

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._valid_token: str | None = None
        self._since_token = 0
        self._script: dict[str, list[str]] = defaultdict(list)
        self._uuids: dict[str, tuple[float, str]] = {}
        self._per_target: dict[str, list[float]] = defaultdict(list)
        self._seq = itertools.count(1)
        self._server: LoopbackServer | None = None
        self.ws = FakeLongConnection(self)

    # -- cues -------------------------------------------------------------------------------
    def fail_next(self, api: str, *outcomes: str) -> None:
        """Answer the next calls to `api` ("im/v1/messages", "im/v1/images", "patch") with these outcomes."""
        with self._lock:
            self._script[api].extend(outcomes)

    def expire_token(self) -> None:
        with self._lock:
            self._valid_token = None

    # -- views ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The API base URL (feishu.api_base_url)."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/open-apis/"

    @property
    def domain(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def calls_to(self, api: str, outcome: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.path == api and (outcome is None or c.outcome == outcome)]

    def to(self, receive_id: str) -> list[Message]:
        return [m for m in self.messages if m.receive_id == receive_id]

    def texts(self, receive_id: str) -> list[str]:
        """The markdown of every card delivered to a recipient (images as "[image]")."""
        return [card_text(m.content) if m.msg_type == "interactive" else "[image]" for m in self.to(receive_id)]

    def max_per_second(self, receive_id: str) -> int:
        times = sorted(c.at for c in self.calls
                       if c.path == "im/v1/messages" and c.body.get("receive_id") == receive_id)
        return max((sum(1 for u in times[i:] if u - t < 1.0) for i, t in enumerate(times)), default=0)

    def message(self, message_id: str) -> Message:
        return next(m for m in self.messages if m.message_id == message_id)

    # -- the API ----------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            now = self.clock()
            if path == "/callback/ws/endpoint":
                return self.ws.endpoint(body)
            api = path.removeprefix("/open-apis/")
            if api == "auth/v3/tenant_access_token/internal":
                if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
                    return self._log(method, api, query, body, now, "bad_secret", 400, 10014, "app secret invalid")
                self.tokens_issued += 1
                self._valid_token = f"t-{self.tokens_issued:04d}"
                self._since_token = 0
                self.calls.append(Call(method, api, query, body, "ok", now))
                return 200, {"code": 0, "msg": "ok", "tenant_access_token": self._valid_token, "expire": 7200}, {}
            auth = headers.get("authorization", "")
            if auth != f"Bearer {self._valid_token}" or self._valid_token is None:
                return self._log(method, api, query, body, now, "bad_token", 400, 99991663, "Invalid access token")
            script_key = "patch" if method == "PATCH" else api
            scripted = self._script[script_key].pop(0) if self._script[script_key] else None
            if scripted == PASS:
                scripted = None
            if scripted is None and api == "im/v1/messages" and self.per_target_per_second:
                target = str(body.get("receive_id") or "")
                recent = [t for t in self._per_target[target] if now - t < 1.0]
                self._per_target[target] = recent
                if len(recent) >= self.per_target_per_second:
                    scripted = RATE
                else:
                    recent.append(now)
            if scripted is not None:
                return self._scripted(method, api, query, body, now, scripted)
            self._since_token += 1
            if self.expire_every and self._since_token >= self.expire_every:
                self._valid_token = None  # this call still works; the next one finds it expired
            if api == "im/v1/images":
                self.calls.append(Call(method, api, query, body, "ok", now))
                return 200, {"code": 0, "msg": "success", "data": {"image_key": f"img_v3_{next(self._seq):04d}"}}, {}
            if api == "im/v1/messages" and method == "POST":
                return self._send(api, query, body, now)
            if api.startswith("im/v1/messages/") and method == "PATCH":
                return self._patch(api, query, body, now)
            return 404, {"code": 404, "msg": "no such path"}, {}

    def _scripted(self, method: str, api: str, query: dict[str, str], body: dict[str, Any], now: float,
                  outcome: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        if outcome == RATE:
            status, answer, hdrs = self._log(method, api, query, body, now, RATE, 429, 99991400,
                                             "request trigger frequency limit")
            return status, answer, {"x-ogw-ratelimit-reset": str(self.rate_reset)}
        if outcome == QUOTA:
            return self._log(method, api, query, body, now, QUOTA, 429, 99991403,
                             "The number of API calls has exceeded the monthly limit of the free edition")
        if outcome == BAD_RECIPIENT:
            return self._log(method, api, query, body, now, BAD_RECIPIENT, 400, 230013,
                             "Bot has NO availability to this user.")
        self.calls.append(Call(method, api, query, body, HTTP_500, now))
        return 500, {}, {}

    def _send(self, api: str, query: dict[str, str], body: dict[str, Any], now: float) -> tuple[
            int, dict[str, Any], dict[str, str]]:
        kind = query.get("receive_id_type")
        if kind not in ("open_id", "chat_id", "user_id", "union_id", "email"):
            return self._log("POST", api, query, body, now, "bad_type", 400, 99992402, "receive_id_type invalid")
        uuid = body.get("uuid")
        if uuid is not None and (not isinstance(uuid, str) or len(uuid) > 50):
            return self._log("POST", api, query, body, now, "bad_uuid", 400, 99992402, "uuid too long")
        try:
            content = json.loads(body.get("content") or "")
        except (TypeError, ValueError):
            return self._log("POST", api, query, body, now, "bad_content", 400, 230001, "content is not JSON")
        if body.get("msg_type") == "interactive" and len(body["content"].encode()) > CARD_LIMIT:
            return self._log("POST", api, query, body, now, "too_large", 400, 230025, "card too large")
        if uuid and uuid in self._uuids and now - self._uuids[uuid][0] < UUID_TTL:
            self.calls.append(Call("POST", api, query, body, "dup", now))
            return 200, {"code": 0, "msg": "success", "data": {"message_id": self._uuids[uuid][1]}}, {}
        message_id = f"om_{next(self._seq):06d}"
        if uuid:
            self._uuids[uuid] = (now, message_id)
        self.messages.append(Message(message_id, str(body.get("receive_id")), kind, str(body.get("msg_type")),
                                     content, uuid))
        self.calls.append(Call("POST", api, query, body, "ok", now))
        return 200, {"code": 0, "msg": "success", "data": {"message_id": message_id, "msg_type": body.get("msg_type")}}, {}

    def _patch(self, api: str, query: dict[str, str], body: dict[str, Any], now: float) -> tuple[
            int, dict[str, Any], dict[str, str]]:
        message_id = api.removeprefix("im/v1/messages/")
        found = [m for m in self.messages if m.message_id == message_id]
        if not found or found[0].msg_type != "interactive":
            return self._log("PATCH", api, query, body, now, "not_found", 400, 230011, "message not found")
        if not (found[0].content.get("config") or {}).get("update_multi"):
            return self._log("PATCH", api, query, body, now, "not_shared", 400, 230099,
                             "only shared cards (update_multi) can be updated")
        content = json.loads(body.get("content") or "{}")
        found[0].updates.append(content)
        self.calls.append(Call("PATCH", "patch", query, body | {"message_id": message_id}, "ok", now))
        return 200, {"code": 0, "msg": "success", "data": {}}, {}

    def _log(self, method: str, api: str, query: dict[str, str], body: dict[str, Any], now: float, outcome: str,
             status: int, code: int, msg: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        self.calls.append(Call(method, api, query, body, outcome, now))
        return status, {"code": code, "msg": msg}, {}

    # -- server -----------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[FakeFeishu]:
        with json_server(self.handle) as self._server, self.ws.running():
            yield self


def card_text(content: dict[str, Any]) -> str:
    """The header title and markdown of a JSON 2.0 card, one per line."""
    from bot.platforms.feishu.convert import card_markdown

    return card_markdown(content)


def card_buttons(content: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button of a card: {"label", "action", "value", "type"}."""
    out = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "button":
                value = next((b.get("value") for b in node.get("behaviors") or [] if b.get("type") == "callback"), {})
                out.append({"label": (node.get("text") or {}).get("content"), "type": node.get("type"),
                            "action": value.get("action"), "value": value.get("value")})
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(content)
    return out


# -- the long connection ------------------------------------------------------------------------

class FakeLongConnection:
    """The WebSocket side of Feishu's long connection, as lark-oapi's ws.Client expects it.

    The client POSTs {AppID, AppSecret} to /callback/ws/endpoint on the API's domain and gets a
    ws:// URL and its ClientConfig (PingInterval, reconnect settings); it then pings every
    PingInterval seconds, and answers each event frame with the same frame carrying
    {"code": 200}. This fake can push events (also twice), drop connections and go silent (no
    pongs, no events: a connection that looks open but is dead).
    """

    def __init__(self, api: FakeFeishu, *, ping_interval: int = 1) -> None:
        self.api = api
        self.ping_interval = ping_interval
        self.silent = False
        self.refuse = False  # answer the endpoint with "system busy"
        self.handshakes = 0
        self.pings = 0
        self.acks: list[dict[str, Any]] = []  # the client's answers to pushed events, decoded
        self._conns: list[Any] = []
        self._cond = threading.Condition()
        self._server: Any = None

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/ws"

    def endpoint(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if body.get("AppID") != self.api.app_id or body.get("AppSecret") != self.api.app_secret:
            return 200, {"code": 10003, "msg": "app_id or app_secret is invalid"}, {}
        if self.refuse:
            return 200, {"code": 1, "msg": "system busy"}, {}
        device = uuidlib.uuid4().hex[:12]
        return 200, {"code": 0, "msg": "ok", "data": {
            "URL": f"{self.url}?device_id={device}&service_id=7",
            "ClientConfig": {"ReconnectCount": -1, "ReconnectInterval": 1, "ReconnectNonce": 0,
                             "PingInterval": self.ping_interval}}}, {}

    # -- cues -------------------------------------------------------------------------------
    def push(self, event: dict[str, Any], *, times: int = 1) -> None:
        """Send an event to the connected client (`times` deliveries of the same event)."""
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame

        payload = json.dumps(event, ensure_ascii=False).encode()
        with self._cond:
            conns = list(self._conns)
        if not conns:
            raise AssertionError("no client is connected")
        for _ in range(times):
            frame = Frame(SeqID=0, LogID=0, service=7, method=1, payload=payload)
            for key, value in (("type", "event"), ("message_id", uuidlib.uuid4().hex), ("trace_id", "tr"),
                               ("sum", "1"), ("seq", "0")):
                header = frame.headers.add()
                header.key, header.value = key, value
            conns[-1].send(frame.SerializeToString())

    def drop(self) -> None:
        """Close every connection from the server's side."""
        with self._cond:
            conns, self._conns = list(self._conns), []
        for conn in conns:
            conn.close()

    def wait_connected(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Wait until `count` handshakes have happened in all and a client is connected."""
        with self._cond:
            return self._cond.wait_for(lambda: self.handshakes >= count and bool(self._conns), timeout)

    def wait_acks(self, count: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.acks) >= count, timeout)

    # -- server -----------------------------------------------------------------------------
    def _serve(self, conn: Any) -> None:
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame

        with self._cond:
            self.handshakes += 1
            self._conns.append(conn)
            self._cond.notify_all()
        try:
            for raw in conn:
                frame = Frame()
                frame.ParseFromString(raw)
                kind = next((h.value for h in frame.headers if h.key == "type"), "")
                if frame.method == 0 and kind == "ping":
                    with self._cond:
                        self.pings += 1
                    if not self.silent:
                        pong = Frame(SeqID=0, LogID=0, service=frame.service, method=0)
                        header = pong.headers.add()
                        header.key, header.value = "type", "pong"
                        conn.send(pong.SerializeToString())
                elif frame.method == 1:
                    with self._cond:
                        self.acks.append(json.loads(frame.payload or b"{}"))
                        self._cond.notify_all()
        except Exception:
            pass
        finally:
            with self._cond:
                if conn in self._conns:
                    self._conns.remove(conn)
                self._cond.notify_all()

    @contextmanager
    def running(self) -> Iterator[FakeLongConnection]:
        from websockets.sync.server import serve

        self._server = serve(self._serve, "127.0.0.1", 0, ping_interval=None, compression=None)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.drop()
            self._server.shutdown()
            thread.join(5)


# -- a whole bot wired to the fake, for tests ---------------------------------------------------

@dataclass
class FeishuEnv:
    """The bot (App + FeishuPort) on a real database, the fake Feishu, and an HTTP client for events."""

    fake: FakeFeishu
    app: Any
    port: Any
    http: Any
    clock: Any

    def now_ts(self) -> int:
        return int(self.clock.now().timestamp())

    def post_event(self, event: dict[str, Any], **kw: Any) -> Any:
        """POST an event to /feishu/events encrypted and signed as Feishu does; wait for its handling."""
        from tests.support.feishu_events import signed_request

        body, headers = signed_request(event, timestamp=kw.pop("timestamp", self.now_ts()), **kw)
        resp = self.http.post("/feishu/events", content=body, headers=headers)
        self.app.handling.join()  # the answer went out first; the handling runs on its own threads
        return resp


def feishu_settings(database_url: str, fake: FakeFeishu, *, other: dict[str, Any] | None = None,
                    **feishu: Any) -> Any:
    """Settings with Feishu on against the fake (http mode unless `mode` says), plus `other` sections."""
    from tests.conftest import make_settings
    from tests.support.feishu_events import ENCRYPT_KEY, VERIFICATION_TOKEN

    return make_settings(database_url, feishu={
        "app_id": fake.app_id, "app_secret": fake.app_secret, "verification_token": VERIFICATION_TOKEN,
        "encrypt_key": ENCRYPT_KEY, "mode": "http", "api_base_url": fake.url} | feishu,
        outbox={"http_timeout_seconds": 5.0}, **(other or {}))


@contextmanager
def feishu_env(db: Any, clock: Any, database_url: str, **feishu: Any) -> Iterator[FeishuEnv]:
    """Start the fake and wire an App whose only platform is Feishu, pointed at it."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from bot.platforms.feishu.port import FeishuPort
    from bot.platforms.feishu.routes import feishu_routes
    from bot.wiring import App

    fake = FakeFeishu()
    with fake.running():
        settings = feishu_settings(database_url, fake, **feishu)
        port = FeishuPort(settings, db=db, clock=clock)
        port.client.forget_token()
        app = App(settings, db=db, clock=clock, ports={"feishu": port}, migrate=False)
        with TestClient(Starlette(routes=feishu_routes(app))) as http:
            yield FeishuEnv(fake, app, port, http, clock)
        app.handling.close()
        port.close()


# Feishu open_ids for the people of tests.support.org.build_org.
OPEN_IDS = {"zhang": "ou_zhang", "li": "ou_li", "wang": "ou_wang", "mgr_east": "ou_chen", "mgr_south": "ou_liu",
            "admin": "ou_admin"}


def add_feishu_ids(db: Any, org: Any, ids: dict[str, str] | None = None) -> None:
    """Give people of the test organisation a Feishu open_id, and teams sh1 and gz1 a Feishu group."""
    from models import Identity, TeamChat

    with db.unit_of_work() as s:
        for code, open_id in (ids or OPEN_IDS).items():
            s.add(Identity(person_id=org.ids["user:" + code], platform="feishu", external_id=open_id))
        for team in ("sh1", "gz1"):
            s.add(TeamChat(team_id=org.ids["team:" + team], platform="feishu", kind="chat", target=f"oc_{team}"))
