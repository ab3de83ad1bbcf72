"""Every request that is not provably from Slack or WeCom, and fresh, is refused and leaves no trace."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.core.clock import FixedClock
from bot.core.db import Database
from bot.core.settings import Settings
from bot.http import create_asgi_app
from models import InboundEvent, OutboxMessage
from tests.support.fake_slack import FakeSlack, running_fake_slack
from tests.support.fake_wecom import WecomEnv, wecom_env
from tests.support.org import build_org
from tests.support.slack_app import SECRET, slack_app, slack_settings
from tests.support.slack_signing import FORM, block_action, command_body, dm_event, signature, signed_headers
from tests.support.wecom_crypto import CallbackSigner, encrypt, sign, text_xml


def stored(db: Database) -> tuple[int, int]:
    with db.unit_of_work() as s:
        return (int(s.scalar(select(func.count()).select_from(InboundEvent)) or 0),
                int(s.scalar(select(func.count()).select_from(OutboxMessage)) or 0))


# -- Slack -------------------------------------------------------------------------------------

@pytest.fixture()
def fake() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


@pytest.fixture()
def slack(settings: Settings, database_url: str, db: Database, fake: FakeSlack) -> Iterator[TestClient]:
    build_org(db)
    app = slack_app(slack_settings(database_url, fake), db)
    with TestClient(create_asgi_app(app)) as client:
        yield client


def _bodies() -> dict[str, tuple[bytes, str]]:
    return {
        "event": (dm_event("U_ZHANG", "日报\n拜访: 3", event_id="Ev_sig"), "application/json"),
        "command": (command_body("/help", "", user="U_ZHANG", trigger_id="tr.sig"), FORM),
        "action": (block_action("U_ZHANG", "nudge_done", "1", trigger_id="tr.sig2"), FORM),
    }


@pytest.mark.parametrize("kind", ["event", "command", "action"])
@pytest.mark.parametrize("case", ["forged", "stale", "future", "truncated", "appended", "no_signature",
                                  "no_timestamp", "no_headers", "garbage_timestamp", "empty_signature",
                                  "signature_of_other_body", "v1_scheme"])
def test_slack_refuses_what_it_cannot_verify(slack: TestClient, fake: FakeSlack, db: Database, kind: str,
                                             case: str) -> None:
    body, ctype = _bodies()[kind]
    now = int(time.time())
    headers = signed_headers(SECRET, body, content_type=ctype)
    sent = body
    if case == "forged":
        headers = signed_headers("forged-secret", body, content_type=ctype)
    elif case == "stale":
        headers = signed_headers(SECRET, body, timestamp=now - 400, content_type=ctype)
    elif case == "future":
        headers = signed_headers(SECRET, body, timestamp=now + 400, content_type=ctype)
    elif case == "truncated":
        sent = body[: len(body) // 2]
    elif case == "appended":
        sent = body + b"&x=1"
    elif case == "no_signature":
        del headers["X-Slack-Signature"]
    elif case == "no_timestamp":
        del headers["X-Slack-Request-Timestamp"]
    elif case == "no_headers":
        headers = {"Content-Type": ctype}
    elif case == "garbage_timestamp":
        headers["X-Slack-Request-Timestamp"] = "yesterday"
    elif case == "empty_signature":
        headers["X-Slack-Signature"] = ""
    elif case == "signature_of_other_body":
        headers["X-Slack-Signature"] = signature(SECRET, now, b"{}")
    elif case == "v1_scheme":
        headers["X-Slack-Signature"] = headers["X-Slack-Signature"].replace("v0=", "v1=")
    resp = slack.post("/slack/events", content=sent, headers=headers)
    assert resp.status_code == 401, (case, resp.status_code, resp.text[:200])
    time.sleep(0.05)
    assert stored(db) == (0, 0)
    assert [c for c in fake.all_calls() if c.method != "auth.test"] == []


def test_slack_accepts_a_timestamp_just_inside_the_window(slack: TestClient, fake: FakeSlack, db: Database) -> None:
    body = dm_event("U_BOB", "/help", event_id="Ev_edge")
    resp = slack.post("/slack/events", content=body, headers=signed_headers(SECRET, body,
                                                                           timestamp=int(time.time()) - 240))
    assert resp.status_code == 200
    fake.wait_for("chat.postMessage")
    assert stored(db)[0] == 1


def test_slack_replay_of_the_same_signed_request_is_handled_once(slack: TestClient, fake: FakeSlack,
                                                                 db: Database) -> None:
    body = dm_event("U_ZHANG", "日报\n拜访: 3\n签约: 1万", event_id="Ev_replay")
    headers = signed_headers(SECRET, body)
    codes = [slack.post("/slack/events", content=body, headers=headers).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    fake.wait_for("chat.postMessage")
    time.sleep(0.3)
    assert len(fake.ok_calls("chat.postMessage")) == 1
    assert stored(db) == (1, 1)


# -- WeCom -------------------------------------------------------------------------------------

@pytest.fixture()
def wecom(db: Database, clock: FixedClock, database_url: str) -> Iterator[WecomEnv]:
    build_org(db)
    with wecom_env(db, clock, database_url) as env:
        yield env


def _envelope(corp_id: str, enc: str) -> bytes:
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt>"
            "<AgentID><![CDATA[1000002]]></AgentID></xml>").encode()


@pytest.mark.parametrize("case", ["bad_signature", "stale", "future", "truncated_encrypt", "garbled_encrypt",
                                  "wrong_corp_id", "wrong_aes_key", "no_encrypt", "not_xml", "empty_body",
                                  "no_query", "garbage_timestamp", "echostr_bad_signature"])
def test_wecom_refuses_what_it_cannot_verify(wecom: WecomEnv, db: Database, case: str) -> None:
    from tests.support.fake_wecom import AES_KEY, CALLBACK_TOKEN

    now = wecom.now_ts()
    corp = wecom.fake.corp_id
    xml = text_xml(sender="zhangwei", content="日报\n拜访: 3", msg_id=f"m-{case}", create_time=now, corp_id=corp)
    nonce = "55555"

    def post(enc: str, *, ts: int | str = now, body: bytes | None = None, sig: str | None = None) -> int:
        signature_ = sig if sig is not None else sign(CALLBACK_TOKEN, str(ts), nonce, enc)
        query = f"msg_signature={signature_}&timestamp={ts}&nonce={nonce}"
        return wecom.http.post(f"/wecom/callback?{query}", content=body if body is not None
                               else _envelope(corp, enc), headers={"Content-Type": "text/xml"}).status_code

    good = encrypt(xml, encoding_aes_key=AES_KEY, corp_id=corp)
    if case == "bad_signature":
        status = post(good, sig="0" * 40)
    elif case == "stale":
        status = post(good, ts=now - 400)
    elif case == "future":
        status = post(good, ts=now + 400)
    elif case == "truncated_encrypt":
        status = post(good[: len(good) // 2])
    elif case == "garbled_encrypt":
        status = post(good[:10] + ("A" if good[10] != "A" else "B") * 20 + good[30:])
    elif case == "wrong_corp_id":
        status = post(encrypt(xml, encoding_aes_key=AES_KEY, corp_id="ww_someone_else"))
    elif case == "wrong_aes_key":
        status = post(encrypt(xml, encoding_aes_key="b" * 43, corp_id=corp))
    elif case == "no_encrypt":
        status = post(good, body=f"<xml><ToUserName>{corp}</ToUserName></xml>".encode())
    elif case == "not_xml":
        status = post(good, body=b"{\"Encrypt\": \"x\"}")
    elif case == "empty_body":
        status = post(good, body=b"")
    elif case == "no_query":
        status = wecom.http.post("/wecom/callback", content=_envelope(corp, good)).status_code
    elif case == "garbage_timestamp":
        status = post(good, ts="soon")
    else:
        signer = CallbackSigner(token="not-the-token", encoding_aes_key=AES_KEY, corp_id=corp)
        status = wecom.http.get(f"/wecom/callback?{signer.verify_query('echo', timestamp=now)}").status_code
    assert status == 403, case
    assert stored(db) == (0, 0)
    assert wecom.fake.calls == []


def test_wecom_replay_with_new_nonce_is_answered_once(wecom: WecomEnv, db: Database) -> None:
    xml = text_xml(sender="zhangwei", content="/help", msg_id="m-replay", create_time=wecom.now_ts(),
                   corp_id=wecom.fake.corp_id)
    codes = [wecom.post_xml(xml, nonce=n).status_code for n in ("1", "1", "2")]
    assert codes == [200, 200, 200]
    assert len(wecom.fake.calls_to("message/send")) == 1
    assert stored(db) == (1, 1)
