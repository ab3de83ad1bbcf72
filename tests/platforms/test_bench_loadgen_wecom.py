"""The bench load generator's WeCom callbacks: byte-exact with WeCom's sample, accepted by our server."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select
from wechatpy.enterprise.crypto import WeChatCrypto

from bench.loadgen import REPORT, WecomApp, run_wecom, wecom_callback, wecom_encrypt, wecom_signature
from bot.core.clock import FixedClock
from bot.core.db import Database
from models import DailyReport, Identity, InboundEvent
from tests.support import wecom_crypto
from tests.support.fake_wecom import AES_KEY, CALLBACK_TOKEN, WecomEnv, wecom_env
from tests.support.org import build_org


@pytest.fixture()
def env(db: Database, clock: FixedClock, database_url: str) -> Iterator[WecomEnv]:
    build_org(db)
    with wecom_env(db, clock, database_url) as e:
        yield e


def test_encryption_matches_wecoms_official_sample() -> None:
    sample = wecom_crypto.SAMPLE_MESSAGE
    key = base64.b64decode(wecom_crypto.SAMPLE_AES_KEY + "=")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    raw = dec.update(base64.b64decode(sample["encrypt"])) + dec.finalize()
    plain, corp_id = wecom_crypto.decrypt(sample["encrypt"], encoding_aes_key=wecom_crypto.SAMPLE_AES_KEY)
    again = wecom_encrypt(plain, encoding_aes_key=wecom_crypto.SAMPLE_AES_KEY, corp_id=corp_id, random16=raw[:16])
    assert again == sample["encrypt"]
    assert wecom_signature(wecom_crypto.SAMPLE_TOKEN, sample["timestamp"], sample["nonce"],
                           sample["encrypt"]) == sample["msg_signature"]


def test_each_callback_decrypts_with_wechatpy_and_carries_a_fresh_msgid() -> None:
    app = WecomApp(token=CALLBACK_TOKEN, encoding_aes_key=AES_KEY, corp_id="ww_bench")
    crypto = WeChatCrypto(CALLBACK_TOKEN, AES_KEY, "ww_bench")
    msg_ids = set()
    for _ in range(3):
        query, body = wecom_callback(app, "lina")
        q = {k: v[0] for k, v in parse_qs(query).items()}
        xml = crypto.decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"])
        assert "<FromUserName><![CDATA[lina]]></FromUserName>" in xml and REPORT in xml
        msg_ids.add(xml.split("<MsgId>")[1].split("</MsgId>")[0])
    assert len(msg_ids) == 3


def test_our_server_stores_the_report_and_the_bench_users_are_wecom_people(env: WecomEnv, db: Database) -> None:
    from bench.ack import WECOM_USERS

    app = WecomApp(token=CALLBACK_TOKEN, encoding_aes_key=AES_KEY, corp_id=env.fake.corp_id)
    query, body = wecom_callback(app, "zhangwei", now=env.now_ts())
    resp = env.http.post(f"/wecom/callback?{query}", content=body, headers={"Content-Type": "text/xml"})
    assert resp.status_code == 200 and resp.content == b""
    assert env.app.handling.join(10)  # handled on its own threads once the answer went out
    with db.unit_of_work() as s:
        assert s.scalar(select(InboundEvent.kind)) == "message"
        report = s.scalar(select(DailyReport))
        assert report is not None and report.visits == 3
        wecom_ids = set(s.scalars(select(Identity.external_id).where(Identity.platform == "wecom")))
    assert [c.body["touser"] for c in env.fake.calls_to("message/send")] == ["zhangwei"]
    assert set(WECOM_USERS) <= wecom_ids


def test_only_loopback_targets() -> None:
    app = WecomApp(token="t", encoding_aes_key=AES_KEY, corp_id="c")
    with pytest.raises(SystemExit):
        asyncio.run(run_wecom("http://example.com/wecom/callback", app, ["lina"], concurrency=1, count=1,
                              max_seconds=1))
