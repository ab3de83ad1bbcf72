"""Ack latency: our server (dispatch before ack) against a bare app that only does what it must to ack.

    python bench/ack.py [--platform slack|wecom|feishu|dingtalk|both|all] [--db URL] [--count 2000] [--seconds 30]

Slack: signed report DMs to /slack/events; the floor is a bare Bolt app whose only listener acks.
WeCom: encrypted text callbacks carrying the same report to /wecom/callback; the floor is a bare
Starlette app that verifies msg_signature and decrypts the body with wechatpy's crypto (the work any
WeCom bot must do before it can answer) and answers 200 with an empty body.
Feishu: encrypted, signed message events carrying the same report to /feishu/events; the floor is a
bare Starlette app that checks X-Lark-Signature and decrypts the body with `cryptography` (the work
any Feishu bot must do; lark-oapi's AESCipher is the same AES, but importing it loads the whole SDK)
and answers {}. DingTalk: signed robot-message callbacks carrying the same report to /dingtalk/callback;
the floor is a bare Starlette app that checks the timestamp and the `sign` header (HMAC-SHA256), parses
the JSON body and answers {}. `both` is Slack and WeCom; `all` adds Feishu and DingTalk.

Every server runs on its own uvicorn on 127.0.0.1 in its own process; our server has the measured
platforms configured and its outbox worker on, and sends its replies to fake Slack / WeCom APIs that
run in another process (so neither the fakes nor our replies share the load generator's GIL).
Between runs the bench waits for our outbox to drain, so one server's leftover sending never
overlaps the other's measurement. Prints, for each concurrency and platform, the bare line, our
line and our/bare ratio at p50 and p99 (goal <= 1.2). Each side's figures pool two runs of
count/2 requests (and seconds/2 at most) taken in the order bare, ours, ours, bare.

The bench's five WeCom members each send hundreds of reports a minute; WeCom's limit of 30 messages
per member per minute would only park our replies in the outbox for minutes, so it is lifted here
(`wecom.per_member_per_minute`) — the acks are what is measured, and real members send one report
a day. Likewise Feishu's 5 messages a second per person (`feishu.per_target_per_second`) is raised to
its maximum, 50, for the bench's five people.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import multiprocessing
import socket
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from bench.loadgen import Figures, WecomApp, run, run_dingtalk, run_feishu, run_wecom  # noqa: E402
from bot.core.settings import load_settings  # noqa: E402
from bot.http import create_asgi_app  # noqa: E402
from bot.wiring import App  # noqa: E402
from models import InboundEvent  # noqa: E402
from tests.support.fake_dingtalk import add_dingtalk_ids  # noqa: E402
from tests.support.fake_feishu import add_feishu_ids  # noqa: E402
from tests.support.feishu_events import ENCRYPT_KEY, VERIFICATION_TOKEN  # noqa: E402
from tests.support.org import build_org  # noqa: E402

SECRET = "bench-signing-secret"
USERS = ("U_ZHANG", "U_LI", "U_BOB", "U_MEAST", "U_MNORTH")  # Slack ids in tests/support/org.py
WECOM_USERS = ("zhangwei", "lina", "wangfang", "chenjl", "liujl")  # WeCom ids in tests/support/org.py
WECOM_TOKEN = "bench-callback-token"
WECOM_AES_KEY = "c2FsZXNib3QtYmVuY2gtd2Vjb20tYWVzLWtleS0zMmI"  # 43 characters, as WeCom issues them
WECOM_AGENT_ID = "1000002"
SLACK_PATH = "/slack/events"
WECOM_PATH = "/wecom/callback"
FEISHU_PATH = "/feishu/events"
FEISHU_USERS = ("ou_zhang", "ou_li", "ou_wang", "ou_chen", "ou_liu")  # tests.support.fake_feishu.OPEN_IDS
# The loadgen's events carry tests.support.feishu_events' verification token; the bench uses its Encrypt Key too.
FEISHU_TOKEN = VERIFICATION_TOKEN
FEISHU_KEY = ENCRYPT_KEY
SPAWN = multiprocessing.get_context("spawn")
DINGTALK_USERS = ("dt_zhang", "dt_li", "dt_wang", "dt_meast", "dt_msouth")  # tests.support.fake_dingtalk
DINGTALK_PATH = "/dingtalk/callback"
DEADLINE_S = {"slack": 3.0, "wecom": 5.0, "feishu": 3.0, "dingtalk": 5.0}  # after this long without an answer the platform retries


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the fake platform APIs, in their own process ------------------------------------------------

def _run_fake(kind: str, conn: Connection) -> None:
    """Child process: serve a fake Slack, WeCom or Feishu API; send its address, then its counts when told to stop."""
    if kind == "slack":
        from tests.support.fake_slack import running_fake_slack

        with running_fake_slack() as slack:
            conn.send({"url": slack.url})
            conn.recv()
            conn.send({"sent": len(slack.ok_calls("chat.postMessage"))})
    elif kind == "wecom":
        from tests.support.fake_wecom import FakeWecom

        wecom = FakeWecom()
        with wecom.running():
            conn.send({"url": wecom.url, "corp_id": wecom.corp_id, "secret": wecom.secret})
            conn.recv()
            conn.send({"sent": len(wecom.calls_to("message/send"))})
    elif kind == "dingtalk":
        from tests.support.fake_dingtalk import FakeDingtalk

        dingtalk = FakeDingtalk()
        with dingtalk.running():
            conn.send({"url": dingtalk.url, "oapi_url": dingtalk.oapi_url, "client_id": dingtalk.client_id,
                       "client_secret": dingtalk.client_secret})
            conn.recv()
            conn.send({"sent": len(dingtalk.calls_to("v1.0/robot/oToMessages/batchSend"))})
    else:
        from tests.support.fake_feishu import FakeFeishu

        feishu = FakeFeishu(per_target_per_second=0)
        with feishu.running():
            conn.send({"url": feishu.url, "app_id": feishu.app_id, "app_secret": feishu.app_secret})
            conn.recv()
            conn.send({"sent": len(feishu.calls_to("im/v1/messages", "ok"))})


class Fake:
    def __init__(self, kind: str) -> None:
        self.conn, child = SPAWN.Pipe()
        self.proc = SPAWN.Process(target=_run_fake, args=(kind, child), daemon=True)
        self.proc.start()
        if not self.conn.poll(30):
            raise SystemExit(f"the fake {kind} API did not start")
        self.info: dict[str, Any] = self.conn.recv()

    def stop(self) -> int:
        """Stop the fake and return how many messages it was sent."""
        self.conn.send("stop")
        sent = int(self.conn.recv()["sent"]) if self.conn.poll(10) else -1
        self.proc.join(10)
        return sent


# -- the servers -----------------------------------------------------------------------------------

def our_settings(cfg: dict[str, Any]) -> Any:
    sections: dict[str, Any] = {"database": {"url": cfg["db"]}}
    if cfg.get("slack_api"):
        sections["slack"] = {"bot_token": "xoxb-bench", "signing_secret": SECRET, "api_url": cfg["slack_api"]}
    if cfg.get("wecom"):
        w = cfg["wecom"]
        sections["wecom"] = {"corp_id": w["corp_id"], "agent_id": WECOM_AGENT_ID, "secret": w["secret"],
                             "token": WECOM_TOKEN, "encoding_aes_key": WECOM_AES_KEY,
                             "api_base_url": w["url"], "per_member_per_minute": 1_000_000}
    if cfg.get("feishu"):
        f = cfg["feishu"]
        sections["feishu"] = {"app_id": f["app_id"], "app_secret": f["app_secret"], "mode": "http",
                              "verification_token": FEISHU_TOKEN, "encrypt_key": FEISHU_KEY,
                              "api_base_url": f["url"], "per_target_per_second": 50}
    if cfg.get("dingtalk"):
        d = cfg["dingtalk"]
        sections["dingtalk"] = {"client_id": d["client_id"], "client_secret": d["client_secret"], "mode": "http",
                                "api_base_url": d["url"], "oapi_base_url": d["oapi_url"]}
    return load_settings(None, **sections)


def _serve(which: str, port: int, cfg: dict[str, Any]) -> None:
    """Child process: run one server (ours, the bare Bolt app or the bare WeCom app) until killed."""
    logging.basicConfig(level=logging.CRITICAL)
    if which == "ours":
        asgi = create_asgi_app(App(our_settings(cfg)), run_worker=True)
    elif which == "bare-slack":
        asgi = bare_bolt_app()
    elif which == "bare-feishu":
        asgi = bare_feishu_app()
    elif which == "bare-dingtalk":
        asgi = bare_dingtalk_app(cfg["dingtalk"]["client_secret"])
    else:
        asgi = bare_wecom_app(cfg["wecom"]["corp_id"])
    uvicorn.run(asgi, host="127.0.0.1", port=port, log_config=None, access_log=False)


def start(which: str, cfg: dict[str, Any]) -> tuple[multiprocessing.process.BaseProcess, str]:
    """Start a server in its own process (so the load generator does not share its GIL)."""
    port = free_port()
    proc = SPAWN.Process(target=_serve, args=(which, port, cfg), daemon=True)
    proc.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        raise SystemExit(f"the {which} server did not start")
    return proc, f"http://127.0.0.1:{port}"


def bare_bolt_app() -> Any:
    """A Bolt app whose only listener acks, behind Bolt's own Starlette adapter."""
    from slack_bolt import App as BoltApp
    from slack_bolt.adapter.starlette import SlackRequestHandler
    from slack_bolt.authorization import AuthorizeResult
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    bolt = BoltApp(signing_secret=SECRET, token_verification_enabled=False,
                   authorize=lambda enterprise_id, team_id: AuthorizeResult(
                       enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-bench"))
    bolt.event("message")(lambda ack: ack())
    handler = SlackRequestHandler(bolt)

    async def endpoint(request: Request) -> Any:
        return await handler.handle(request)

    return Starlette(routes=[Route(SLACK_PATH, endpoint, methods=["POST"])])


def bare_wecom_app(corp_id: str) -> Any:
    """A Starlette app that verifies and decrypts each callback with wechatpy, then answers 200 empty."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
    from wechatpy.enterprise.crypto import WeChatCrypto

    crypto = WeChatCrypto(WECOM_TOKEN, WECOM_AES_KEY, corp_id)

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        q = request.query_params
        try:
            crypto.decrypt_message(body, q.get("msg_signature"), q.get("timestamp"), q.get("nonce"))
        except Exception:  # bad signature, corp id or body
            return Response(status_code=403)
        return Response(status_code=200)

    return Starlette(routes=[Route(WECOM_PATH, endpoint, methods=["POST"])])


def bare_feishu_app() -> Any:
    """A Starlette app that checks X-Lark-Signature and decrypts each event (AES-256-CBC), then answers {}."""
    import base64
    import hashlib
    import hmac
    import json

    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    key = hashlib.sha256(FEISHU_KEY.encode()).digest()

    def decrypt(encrypted: str) -> bytes:
        raw = base64.b64decode(encrypted)
        plain = Cipher(algorithms.AES(key), modes.CBC(raw[:16])).decryptor()
        unpad = padding.PKCS7(128).unpadder()
        return unpad.update(plain.update(raw[16:]) + plain.finalize()) + unpad.finalize()

    async def endpoint(request: Request) -> JSONResponse:
        body = await request.body()
        h = request.headers
        expected = hashlib.sha256((h.get("x-lark-request-timestamp", "") + h.get("x-lark-request-nonce", "")
                                   + FEISHU_KEY).encode() + body).hexdigest()
        if not hmac.compare_digest(expected, h.get("x-lark-signature", "")):
            return JSONResponse({"msg": "unauthorized"}, status_code=401)
        try:
            json.loads(decrypt(json.loads(body)["encrypt"]))
        except Exception:  # not Feishu's
            return JSONResponse({"msg": "unauthorized"}, status_code=401)
        return JSONResponse({})

    return Starlette(routes=[Route(FEISHU_PATH, endpoint, methods=["POST"])])


def bare_dingtalk_app(secret: str) -> Any:
    """A Starlette app that checks each callback's timestamp and sign, parses its JSON, answers 200 {}."""
    import base64
    import hashlib
    import hmac
    import json

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request: Request) -> JSONResponse:
        timestamp = request.headers.get("timestamp", "")
        expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(),
                                             hashlib.sha256).digest()).decode()
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 300_000 \
                or not hmac.compare_digest(expected, request.headers.get("sign", "")):
            return JSONResponse({"error": "invalid request"}, status_code=401)
        json.loads(await request.body())
        return JSONResponse({})

    return Starlette(routes=[Route(DINGTALK_PATH, endpoint, methods=["POST"])])


# -- the runs --------------------------------------------------------------------------------------

def unhandled(app: App) -> int:
    """Events our server has acknowledged but not handled yet (it handles them after the ack)."""
    with app.db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(InboundEvent)
                        .where(InboundEvent.processed_at.is_(None))) or 0


def settle(app: App, limit: float = 300.0) -> int:
    """Wait (at most `limit` seconds) until our server has handled every acknowledged event and its
    outbox has drained, so that its work after the ack never weighs on the next run; return what is left."""
    deadline = time.monotonic() + limit
    left = unhandled(app) + app.outbox.backlog()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = unhandled(app) + app.outbox.backlog()
    return left


def ratio(a: float, b: float) -> float:
    return a / b if b and not (math.isnan(a) or math.isnan(b)) else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--platform", choices=("slack", "wecom", "feishu", "dingtalk", "both", "all"), default="both")
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument("--count", type=int, default=2000, help="requests per server, platform and concurrency")
    parser.add_argument("--seconds", type=float, default=30, help="time limit for those requests")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 200])
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    platforms = {"both": ("slack", "wecom"), "all": ("slack", "wecom", "feishu", "dingtalk")}.get(
        args.platform, (args.platform,))
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='salesbot-bench-')}/bench.db"

    app = App(load_settings(None, database={"url": url}))  # the parent only builds the org and watches the outbox
    try:
        add_feishu_ids(app.db, build_org(app.db))
        add_dingtalk_ids(app.db)
    except Exception:  # already there from an earlier run
        pass
    fakes = {kind: Fake(kind) for kind in platforms}
    cfg: dict[str, Any] = {"db": url}
    if "slack" in fakes:
        cfg["slack_api"] = fakes["slack"].info["url"]
    if "wecom" in fakes:
        cfg["wecom"] = fakes["wecom"].info
    if "feishu" in fakes:
        cfg["feishu"] = fakes["feishu"].info
    if "dingtalk" in fakes:
        cfg["dingtalk"] = fakes["dingtalk"].info
    ours, ours_base = start("ours", cfg)
    bare = {kind: start(f"bare-{kind}", cfg) for kind in platforms}
    wecom_app = WecomApp(token=WECOM_TOKEN, encoding_aes_key=WECOM_AES_KEY,
                         corp_id=cfg["wecom"]["corp_id"] if "wecom" in cfg else "", agent_id=WECOM_AGENT_ID)

    def load(kind: str, base: str, concurrency: int, count: int, seconds: float) -> Figures:
        if kind == "slack":
            return asyncio.run(run(base + SLACK_PATH, SECRET, USERS, concurrency=concurrency, count=count,
                                   max_seconds=seconds))
        if kind == "dingtalk":
            return asyncio.run(run_dingtalk(base + DINGTALK_PATH, cfg["dingtalk"]["client_secret"], DINGTALK_USERS,
                                            concurrency=concurrency, count=count, max_seconds=seconds))
        if kind == "feishu":
            return asyncio.run(run_feishu(base + FEISHU_PATH, FEISHU_USERS, encrypt_key=FEISHU_KEY,
                                          concurrency=concurrency, count=count, max_seconds=seconds))
        return asyncio.run(run_wecom(base + WECOM_PATH, wecom_app, WECOM_USERS, concurrency=concurrency,
                                     count=count, max_seconds=seconds))

    print(f"database: {app.db.backend}; platforms: {', '.join(platforms)}; "
          f"requests per server and run: {args.count} (two halves, ABBA); limit {args.seconds:g} s")
    summary = []
    for concurrency in args.concurrency:
        for kind in platforms:
            bare_base = bare[kind][1]
            # warm both up, let our replies go out, then measure each alone
            load(kind, bare_base, 10, 50, 5)
            load(kind, ours_base, 10, 50, 5)

            # two halves each, in ABBA order, so a neighbour's load drifting during the runs
            # weighs on both sides alike; our outbox drains before each run
            halves: dict[str, list[Figures]] = {"bare": [], "ours": []}
            drained: list[float] = []
            for side in ("bare", "ours", "ours", "bare"):
                started = time.monotonic()
                settle(app)
                if side == "bare" and halves["ours"]:
                    drained.append(time.monotonic() - started)
                halves[side].append(load(kind, bare_base if side == "bare" else ours_base, concurrency,
                                         math.ceil(args.count / 2), args.seconds / 2))
            left = settle(app)
            b, o = Figures.merge(halves["bare"]), Figures.merge(halves["ours"])
            floor = {"slack": "bare bolt", "wecom": "bare wecom", "feishu": "bare feishu",
                     "dingtalk": "bare dingtalk"}[kind]
            what = {"slack": "Slack report DM", "wecom": "WeCom text callback",
                    "feishu": "Feishu message event", "dingtalk": "DingTalk robot callback"}[kind]
            r50, r99 = ratio(o.p50_ms, b.p50_ms), ratio(o.p99_ms, b.p99_ms)
            print(f"-- {what}, {concurrency} in flight")
            print(b.line(floor))
            print(o.line("salesbot"))
            print(f"   ratio p50 {r50:.2f}  p99 {r99:.2f}  (goal <= 1.2)"
                  + (f"; still {left} unhandled or unsent after 300 s" if left else ""))
            if drained:
                print(f"   handling after the ack: our backlog of acked events was handled and replied to "
                      f"{drained[0]:.1f} s after the run ended")
            deadline_s = DEADLINE_S[kind]
            print(f"   not acked within {deadline_s:g} s (the platform retries): bare {b.over(deadline_s * 1000)}, "
                  f"salesbot {o.over(deadline_s * 1000)}")
            summary.append((kind, concurrency, r50, r99))
    print("-- summary (salesbot / bare; goal <= 1.2)")
    for kind, concurrency, r50, r99 in summary:
        print(f"   {kind:<6} {concurrency:>4} in flight: p50 {r50:.2f}x  p99 {r99:.2f}x")
    print(f"outbox backlog left: {app.outbox.backlog()}")
    for proc in [ours] + [p for p, _ in bare.values()]:
        proc.terminate()
        proc.join(10)
    for kind, fake in fakes.items():
        name = {"slack": "Slack", "wecom": "WeCom", "feishu": "Feishu", "dingtalk": "DingTalk"}[kind]
        print(f"replies sent to the fake {name} API: {fake.stop()}")
    app.close()


if __name__ == "__main__":
    main()
