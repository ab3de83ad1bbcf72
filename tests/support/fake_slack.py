"""A fake Slack Web API on loopback: records every call, fails on request."""

from __future__ import annotations

import itertools
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from tests.support.fake_http import LoopbackServer

# What a scripted failure looks like: HTTP status, JSON body, extra headers.
FAILURES: dict[str, tuple[int, dict[str, Any] | None]] = {
    "429": (429, {"ok": False, "error": "ratelimited"}),
    "500": (500, None),
    "502": (502, None),
    "503": (503, None),
    "fatal_error": (200, {"ok": False, "error": "fatal_error"}),
    "invalid_auth": (200, {"ok": False, "error": "invalid_auth"}),
    "channel_not_found": (200, {"ok": False, "error": "channel_not_found"}),
    "message_not_found": (200, {"ok": False, "error": "message_not_found"}),
}
RETRYABLE = ("429", "500", "502", "503", "fatal_error")


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    ok: bool
    status: int
    failure: str | None = None
    at: float = 0.0  # the fake's clock when the call was answered


@dataclass
class _Script:
    kind: str
    count: int
    retry_after: float = 1.0
    methods: frozenset[str] | None = None


@dataclass
class FakeSlack:
    """Serve the Slack Web API methods the bot uses; `url` is the `slack.api_url` to configure."""

    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    scripts: list[_Script] = field(default_factory=list)
    rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    rate_methods: frozenset[str] = frozenset({"chat.postMessage", "chat.update", "views.open"})
    delay: float = 0.0
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    server: LoopbackServer | None = None
    uploads: list[bytes] = field(default_factory=list)
    # A workspace-wide chat.postMessage limit: at most `post_limit` accepted posts in any `post_window`
    # seconds of `clock`; above it, 429 with an integer Retry-After (when the oldest post leaves the window).
    # 0 = no limit. Slack publishes no number for it ("several hundred messages per minute").
    post_limit: int = 0
    post_window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _posted_at: deque[float] = field(default_factory=deque)

    # -- scripting ----------------------------------------------------------------------
    def fail_next(self, count: int, kind: str, *, retry_after: float = 1.0,
                  methods: tuple[str, ...] | None = None) -> None:
        """Answer the next `count` calls (of `methods`, default any but auth.test) with a failure."""
        assert kind in FAILURES, kind
        with self.lock:
            self.scripts.append(_Script(kind, count, retry_after, frozenset(methods) if methods else None))

    def failure_rate(self, rate: float, *, seed: int = 0) -> None:
        """Fail this share of message calls at random (429 with Retry-After 0, 5xx or fatal_error)."""
        with self.lock:
            self.rate = rate
            self.rng = random.Random(seed)

    # -- reading ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def ok_calls(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method and c.ok]

    def all_calls(self, method: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if method is None or c.method == method]

    def posted_keys(self) -> list[str]:
        """Outbox keys of every successful chat.postMessage (from the message metadata)."""
        keys = []
        for c in self.ok_calls("chat.postMessage"):
            meta = c.args.get("metadata") or {}
            if isinstance(meta, str):
                meta = json.loads(meta)
            keys.append(str((meta.get("event_payload") or {}).get("key")))
        return keys

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until `count` successful calls of `method` arrived; return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.ok_calls(method)
            if len(got) >= count:
                return got
            time.sleep(0.01)
        raise AssertionError(f"expected {count} {method} call(s), got {self.ok_calls(method)!r}")

    # -- answering ----------------------------------------------------------------------
    def _failure_for(self, method: str) -> tuple[str, float] | None:
        if method == "auth.test":
            return None
        with self.lock:
            for script in self.scripts:
                if script.count > 0 and (script.methods is None or method in script.methods):
                    script.count -= 1
                    return script.kind, script.retry_after
            if self.rate and method in self.rate_methods and self.rng.random() < self.rate:
                kind = self.rng.choice(RETRYABLE)
                return kind, 0.0
        return None

    def _over_post_limit(self, method: str) -> float | None:
        """Return the Retry-After when a post would pass the workspace limit; else count it and None."""
        if not self.post_limit or method != "chat.postMessage":
            return None
        with self.lock:
            now = self.clock()
            while self._posted_at and self._posted_at[0] <= now - self.post_window:
                self._posted_at.popleft()
            if len(self._posted_at) >= self.post_limit:
                return float(max(1, math.ceil(self._posted_at[0] + self.post_window - now)))
            self._posted_at.append(now)
        return None

    def answer(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        if self.delay:
            time.sleep(self.delay)
        failure = self._failure_for(method)
        if failure is None:
            wait = self._over_post_limit(method)
            if wait is not None:
                failure = ("429", wait)
        if failure is not None:
            kind, retry_after = failure
            status, body = FAILURES[kind]
            headers = {"Retry-After": f"{retry_after:g}"} if kind == "429" else {}
            with self.lock:
                self.calls.append(Call(method, args, False, status, kind, self.clock()))
            return status, body, headers
        body = self._ok_body(method, args)
        with self.lock:
            self.calls.append(Call(method, args, body.get("ok", False), 200, at=self.clock()))
        return 200, body, {}

    def _ok_body(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        port = self.server.server_address[1] if self.server else 0
        if method == "auth.test":
            return {"ok": True, "url": "https://fake.slack.com/", "team": "Fake", "user": "salesbot",
                    "team_id": "T_FAKE", "user_id": "U_BOT", "bot_id": "B_BOT"}
        if method in ("chat.postMessage", "chat.update"):
            channel = str(args.get("channel") or "")
            if channel[:1] in ("U", "W"):
                channel = "D" + channel[1:]
            ts = args.get("ts") if method == "chat.update" else f"{1700000000 + next(self._ts)}.000100"
            return {"ok": True, "channel": channel, "ts": ts}
        if method == "views.open":
            return {"ok": True, "view": {"id": f"V{next(self._ts)}"}}
        if method == "conversations.open":
            user = str(args.get("users") or "").split(",")[0]
            return {"ok": True, "channel": {"id": "D" + user[1:]}}
        if method == "files.getUploadURLExternal":
            return {"ok": True, "upload_url": f"http://127.0.0.1:{port}/upload/F1", "file_id": "F1"}
        if method == "files.completeUploadExternal":
            files = args.get("files")
            if isinstance(files, str):
                files = json.loads(files)
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files or []]}
        return {"ok": False, "error": "unknown_method"}


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.startswith("/upload/"):
                with fake.lock:
                    fake.uploads.append(raw)
                    fake.calls.append(Call("upload", {"bytes": len(raw)}, True, 200))
                self._send(200, None, {}, b"OK - " + str(len(raw)).encode())
                return
            method = self.path.split("?", 1)[0].removeprefix("/api/")
            args: dict[str, Any] = {}
            if "?" in self.path:
                args.update(parse_qsl(self.path.split("?", 1)[1]))
            ctype = self.headers.get("Content-Type", "")
            if raw and "json" in ctype:
                args.update(json.loads(raw))
            elif raw:
                args.update(parse_qsl(raw.decode()))
            status, body, headers = fake.answer(method, args)
            self._send(status, body, headers)

        def _send(self, status: int, body: dict[str, Any] | None, headers: dict[str, str],
                  raw: bytes | None = None) -> None:
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                               else b"<html>server error</html>")
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if body is not None else "text/html")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def running_fake_slack() -> Iterator[FakeSlack]:
    """Start a FakeSlack on 127.0.0.1 (random port) in a thread; stop it afterwards."""
    fake = FakeSlack()
    server = LoopbackServer(("127.0.0.1", 0), _handler(fake))
    fake.server = server
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-slack",
                              daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
