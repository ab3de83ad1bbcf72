"""Load generator: signed Slack report DMs, encrypted WeCom text callbacks or encrypted, signed Feishu
message events at a fixed concurrency, ack latency percentiles. Loopback targets only; every run is bounded in count and in time."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlparse

import httpx

from tests.support.wecom_crypto import encrypt as wecom_encrypt  # WeCom's AES-CBC framing
from tests.support.wecom_crypto import sign as wecom_signature  # WeCom's msg_signature

REPORT = "日报\n拜访: 3\n新线索: 2\n签约: 12.5万\n回款: 3万\n明日计划: 回访远航集团\n问题: 无"
LOOPBACK = ("127.0.0.1", "localhost", "::1")

# url, body, headers of one request
Request = tuple[str, bytes, dict[str, str]]


@dataclass
class Figures:
    sent: int
    ok: int
    errors: int
    p50_ms: float
    p99_ms: float
    seconds: float
    latencies: list[float] = field(default_factory=list, repr=False)  # ms of each acknowledged request
    error_kinds: dict[str, int] = field(default_factory=dict)  # "HTTP 500", "ReadTimeout"...: count

    @classmethod
    def merge(cls, parts: Sequence[Figures]) -> Figures:
        """Pool several runs (e.g. halves taken in ABBA order) into one set of figures."""
        latencies = [ms for p in parts for ms in p.latencies]
        kinds: dict[str, int] = {}
        for p in parts:
            for kind, n in p.error_kinds.items():
                kinds[kind] = kinds.get(kind, 0) + n
        return cls(sent=sum(p.sent for p in parts), ok=sum(p.ok for p in parts),
                   errors=sum(p.errors for p in parts), p50_ms=percentile(latencies, 50),
                   p99_ms=percentile(latencies, 99), seconds=sum(p.seconds for p in parts), latencies=latencies,
                   error_kinds=kinds)

    def over(self, ms: float) -> int:
        """How many requests were not acknowledged within `ms` (slower acks and errors)."""
        return sum(1 for x in self.latencies if x > ms) + self.errors

    def line(self, name: str) -> str:
        return (f"{name:<12} sent={self.sent:<5} ok={self.ok:<5} errors={self.errors:<4} "
                f"p50={self.p50_ms:7.2f} ms  p99={self.p99_ms:7.2f} ms  ({self.sent / self.seconds:.0f} req/s)"
                + ("  errors: " + ", ".join(f"{k} x{n}" for k, n in sorted(self.error_kinds.items()))
                   if self.error_kinds else ""))


# -- Slack ----------------------------------------------------------------------------------------

def report_body(user: str) -> bytes:
    """A message.im event carrying a daily report, with a fresh event_id."""
    ts = f"{time.time():.6f}"
    event = {"type": "message", "channel_type": "im", "channel": "D" + user[1:], "user": user,
             "text": REPORT, "ts": ts, "event_ts": ts}
    return json.dumps({"type": "event_callback", "team_id": "T_BENCH", "api_app_id": "A_BENCH",
                       "event_id": "Ev" + uuid.uuid4().hex, "event_time": int(time.time()),
                       "event": event}).encode()


def sign(secret: str, body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


# -- WeCom ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WecomApp:
    """What WeCom knows of the callback URL's app: the callback token, EncodingAESKey and corp id."""

    token: str
    encoding_aes_key: str  # 43 characters, as the admin console issues it
    corp_id: str
    agent_id: str = "1000002"


def wecom_text_xml(app: WecomApp, user: str, content: str, *, msg_id: str, create_time: int) -> str:
    """The plain XML of a text message sent to the app (what WeCom encrypts)."""
    if "]]>" in content:
        raise ValueError("content cannot hold ']]>' inside CDATA")
    return (f"<xml><ToUserName><![CDATA[{app.corp_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{create_time}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
            f"<MsgId>{msg_id}</MsgId><AgentID>{app.agent_id}</AgentID></xml>")


def wecom_callback(app: WecomApp, user: str, content: str = REPORT, *, msg_id: str | None = None,
                   now: int | None = None, nonce: str | None = None) -> tuple[str, bytes]:
    """Return (query string, body) of an encrypted text callback, with a fresh MsgId and nonce."""
    now = int(time.time()) if now is None else now
    msg_id = msg_id or str(secrets.randbits(63))  # WeCom's MsgId is a 64-bit integer
    xml = wecom_text_xml(app, user, content, msg_id=msg_id, create_time=now)
    enc = wecom_encrypt(xml, encoding_aes_key=app.encoding_aes_key, corp_id=app.corp_id)
    timestamp, nonce = str(now), nonce or str(secrets.randbelow(10**10))
    query = urlencode({"msg_signature": wecom_signature(app.token, timestamp, nonce, enc),
                       "timestamp": timestamp, "nonce": nonce})
    body = (f"<xml><ToUserName><![CDATA[{app.corp_id}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt>"
            f"<AgentID><![CDATA[{app.agent_id}]]></AgentID></xml>").encode()
    return query, body


# -- the driver -----------------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise SystemExit(f"loadgen only talks to loopback, not {host}")


async def drive(url: str, make: Callable[[int], Request], *, concurrency: int, count: int,
                max_seconds: float, timeout: float = 30.0) -> Figures:
    """Send up to `count` requests built by `make(i)` with `concurrency` in flight, starting none
    after `max_seconds`; a request counts as acknowledged when it gets HTTP 200 within `timeout`."""
    check_loopback(url)
    latencies: list[float] = []
    errors = 0
    kinds: dict[str, int] = {}
    next_index = 0
    # One client (one keep-alive connection) per worker, made before the clock starts: a single
    # shared pool of `concurrency` connections costs httpcore work per request that grows with the
    # connections and the waiting requests, and at 200 in flight that made the load generator, not
    # the server, the bottleneck. Plain HTTP to loopback only, so no TLS context (verify=False).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(timeout=timeout, limits=limits, verify=False) for _ in range(concurrency)]
    started = time.perf_counter()
    deadline = started + max_seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index, errors
        async with client:
            while next_index < count and time.perf_counter() < deadline:
                index = next_index
                next_index += 1
                target, body, headers = make(index)
                check_loopback(target)
                t0 = time.perf_counter()
                try:
                    resp = await client.post(target, content=body, headers=headers)
                    error = None if resp.status_code == 200 else f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    error = type(exc).__name__
                if error is None:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    errors += 1
                    kinds[error] = kinds.get(error, 0) + 1

    await asyncio.gather(*(worker(client) for client in clients))
    elapsed = time.perf_counter() - started
    return Figures(sent=len(latencies) + errors, ok=len(latencies), errors=errors,
                   p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99), seconds=elapsed,
                   latencies=latencies, error_kinds=kinds)


async def run(url: str, secret: str, users: Sequence[str], *, concurrency: int, count: int,
              max_seconds: float) -> Figures:
    """Send up to `count` signed Slack report DMs with `concurrency` in flight, for at most `max_seconds`."""
    def make(i: int) -> Request:
        body = report_body(users[i % len(users)])
        return url, body, sign(secret, body)

    return await drive(url, make, concurrency=concurrency, count=count, max_seconds=max_seconds)


async def run_wecom(url: str, app: WecomApp, users: Sequence[str], *, concurrency: int, count: int,
                    max_seconds: float, content: str = REPORT) -> Figures:
    """Send up to `count` encrypted WeCom text callbacks (`url` is the callback URL, without query)
    with `concurrency` in flight, for at most `max_seconds`."""
    headers = {"Content-Type": "text/xml"}

    def make(i: int) -> Request:
        query, body = wecom_callback(app, users[i % len(users)], content)
        return f"{url}?{query}", body, headers

    return await drive(url, make, concurrency=concurrency, count=count, max_seconds=max_seconds)


# -- Feishu ---------------------------------------------------------------------------------------

async def run_feishu(url: str, users: Sequence[str], *, encrypt_key: str, concurrency: int, count: int,
                     max_seconds: float, content: str = REPORT) -> Figures:
    """Send up to `count` encrypted, signed Feishu message events (each a new message_id) to `url`
    with `concurrency` in flight, for at most `max_seconds`."""
    from tests.support.feishu_events import message_event, signed_request

    def make(i: int) -> Request:
        now = int(time.time())
        event = message_event(users[i % len(users)], content, message_id="om_" + uuid.uuid4().hex,
                              create_ms=now * 1000)
        body, headers = signed_request(event, timestamp=now, key=encrypt_key, nonce=secrets.token_hex(8))
        return url, body, headers

    return await drive(url, make, concurrency=concurrency, count=count, max_seconds=max_seconds)


# -- DingTalk -------------------------------------------------------------------------------------

def dingtalk_callback(secret: str, user: str, content: str = REPORT) -> tuple[bytes, dict[str, str]]:
    """Return (body, headers) of a signed DingTalk robot message callback with a fresh msgId."""
    from tests.support.fake_dingtalk import robot_message, sign_headers

    now_ms = int(time.time() * 1000)
    body = robot_message(sender=user, text=content, msg_id="msg" + uuid.uuid4().hex, create_at_ms=now_ms)
    return json.dumps(body, ensure_ascii=False).encode(), sign_headers(secret, now_ms)


async def run_dingtalk(url: str, secret: str, users: Sequence[str], *, concurrency: int, count: int,
                       max_seconds: float, content: str = REPORT) -> Figures:
    """Send up to `count` signed DingTalk report callbacks with `concurrency` in flight, for at most `max_seconds`."""
    def make(i: int) -> Request:
        body, headers = dingtalk_callback(secret, users[i % len(users)], content)
        return url, body, headers

    return await drive(url, make, concurrency=concurrency, count=count, max_seconds=max_seconds)
