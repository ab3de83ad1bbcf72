"""Callback crypto against WeCom's official sample vector and an independent encryptor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from bot.core.settings import WecomSettings
from bot.platforms.wecom.crypto import CallbackCrypto, CallbackRejected
from tests.support.wecom_crypto import (
    SAMPLE_AES_KEY,
    SAMPLE_CORP_ID,
    SAMPLE_MESSAGE,
    SAMPLE_TOKEN,
    SAMPLE_VERIFY,
    SAMPLE_VERIFY_ECHO,
    decrypt,
    encrypt,
    sign,
)


def sample_crypto() -> CallbackCrypto:
    return CallbackCrypto(WecomSettings(corp_id=SAMPLE_CORP_ID, agent_id="218", token=SecretStr(SAMPLE_TOKEN),
                                        encoding_aes_key=SecretStr(SAMPLE_AES_KEY)))


def at(ts: str) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC)


def test_independent_helper_matches_the_official_sample() -> None:
    assert sign(SAMPLE_TOKEN, SAMPLE_VERIFY["timestamp"], SAMPLE_VERIFY["nonce"],
                SAMPLE_VERIFY["echostr"]) == SAMPLE_VERIFY["msg_signature"]
    assert decrypt(SAMPLE_VERIFY["echostr"], encoding_aes_key=SAMPLE_AES_KEY) == (SAMPLE_VERIFY_ECHO, SAMPLE_CORP_ID)
    xml, corp = decrypt(SAMPLE_MESSAGE["encrypt"], encoding_aes_key=SAMPLE_AES_KEY)
    assert corp == SAMPLE_CORP_ID and "<Content><![CDATA[hello]]></Content>" in xml


def test_adapter_verifies_and_decrypts_the_official_sample() -> None:
    crypto = sample_crypto()
    echo = crypto.verify_url(msg_signature=SAMPLE_VERIFY["msg_signature"], timestamp=SAMPLE_VERIFY["timestamp"],
                             nonce=SAMPLE_VERIFY["nonce"], echostr=SAMPLE_VERIFY["echostr"],
                             now=at(SAMPLE_VERIFY["timestamp"]))
    assert echo == SAMPLE_VERIFY_ECHO
    body = (f"<xml><ToUserName><![CDATA[{SAMPLE_CORP_ID}]]></ToUserName><Encrypt><![CDATA["
            f"{SAMPLE_MESSAGE['encrypt']}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>").encode()
    xml = crypto.decrypt_body(body, msg_signature=SAMPLE_MESSAGE["msg_signature"],
                              timestamp=SAMPLE_MESSAGE["timestamp"], nonce=SAMPLE_MESSAGE["nonce"],
                              now=at(SAMPLE_MESSAGE["timestamp"]))
    assert "<MsgId>4561255354251345929</MsgId>" in xml


def test_helper_ciphertext_decrypts_with_the_adapter() -> None:
    crypto = sample_crypto()
    enc = encrypt("<xml><Content>你好</Content></xml>", encoding_aes_key=SAMPLE_AES_KEY, corp_id=SAMPLE_CORP_ID)
    ts, nonce = "1700000000", "42"
    echo = crypto.verify_url(msg_signature=sign(SAMPLE_TOKEN, ts, nonce, enc), timestamp=ts, nonce=nonce,
                             echostr=enc, now=at(ts))
    assert echo == "<xml><Content>你好</Content></xml>"


@pytest.mark.parametrize("case", ["signature", "stale", "future", "other_corp", "missing", "garbage"])
def test_bad_callbacks_are_rejected(case: str) -> None:
    crypto = sample_crypto()
    ts, nonce = "1700000000", "42"
    now = at(ts)
    corp = "ww_someone_else" if case == "other_corp" else SAMPLE_CORP_ID
    enc = encrypt("hello", encoding_aes_key=SAMPLE_AES_KEY, corp_id=corp)
    sig = sign(SAMPLE_TOKEN, ts, nonce, enc)
    if case == "signature":
        sig = sign("wrong-token", ts, nonce, enc)
    elif case == "stale":
        now = at(str(int(ts) + 301))
    elif case == "future":
        now = at(str(int(ts) - 301))
    elif case == "garbage":
        enc = "not base64 !!"
        sig = sign(SAMPLE_TOKEN, ts, nonce, enc)
    with pytest.raises(CallbackRejected):
        crypto.verify_url(msg_signature=None if case == "missing" else sig, timestamp=ts, nonce=nonce,
                          echostr=enc, now=now)
    with pytest.raises(CallbackRejected):
        crypto.decrypt_body(b"<xml><Encrypt>" + enc.encode() + b"</Encrypt></xml>",
                            msg_signature=None if case == "missing" else sig, timestamp=ts, nonce=nonce, now=now)


def test_timestamp_within_skew_is_accepted() -> None:
    crypto = sample_crypto()
    ts, nonce = "1700000000", "42"
    enc = encrypt("ok", encoding_aes_key=SAMPLE_AES_KEY, corp_id=SAMPLE_CORP_ID)
    assert crypto.verify_url(msg_signature=sign(SAMPLE_TOKEN, ts, nonce, enc), timestamp=ts, nonce=nonce,
                             echostr=enc, now=at(str(int(ts) + 299))) == "ok"
