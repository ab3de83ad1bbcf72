"""Encrypt and sign WeCom callbacks the way WeCom does, independently of wechatpy (for tests)."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from urllib.parse import urlencode

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# WeCom's official sample (WXBizMsgCrypt): token, EncodingAESKey, corp id, and two signed requests.
SAMPLE_TOKEN = "QDG6eK"
SAMPLE_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
SAMPLE_CORP_ID = "wx5823bf96d3bd56c7"
SAMPLE_VERIFY = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
}
SAMPLE_VERIFY_ECHO = "1616140317555161061"
SAMPLE_MESSAGE = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6", "timestamp": "1409659813",
    "nonce": "1372623149",
    "encrypt": (
        "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJ"
        "Ts3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2h"
        "gf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4E"
        "hzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2Y"
        "oyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
    ),
}


def sign(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Return msg_signature: sha1 of the sorted token, timestamp, nonce and ciphertext."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()


def _key(encoding_aes_key: str) -> bytes:
    key = base64.b64decode(encoding_aes_key + "=")
    assert len(key) == 32
    return key


def encrypt(plain: str, *, encoding_aes_key: str, corp_id: str, random16: bytes | None = None) -> str:
    """AES-256-CBC (iv = key[:16]) over random16 + length + message + corp id, PKCS#7 to 32."""
    key = _key(encoding_aes_key)
    msg = plain.encode()
    data = (random16 or os.urandom(16)) + struct.pack(">I", len(msg)) + msg + corp_id.encode()
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def decrypt(ciphertext: str, *, encoding_aes_key: str) -> tuple[str, str]:
    """Return (message, corp id) of a ciphertext."""
    key = _key(encoding_aes_key)
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    data = dec.update(base64.b64decode(ciphertext)) + dec.finalize()
    data = data[:-data[-1]]
    (length,) = struct.unpack(">I", data[16:20])
    return data[20:20 + length].decode(), data[20 + length:].decode()


class CallbackSigner:
    """Build the query string and body of a WeCom callback for one app."""

    def __init__(self, *, token: str, encoding_aes_key: str, corp_id: str) -> None:
        self.token, self.aes_key, self.corp_id = token, encoding_aes_key, corp_id

    def verify_query(self, echo: str, *, timestamp: int, nonce: str = "1234567") -> str:
        echostr = encrypt(echo, encoding_aes_key=self.aes_key, corp_id=self.corp_id)
        sig = sign(self.token, str(timestamp), nonce, echostr)
        return urlencode({"msg_signature": sig, "timestamp": str(timestamp), "nonce": nonce, "echostr": echostr})

    def message(self, xml: str, *, timestamp: int, nonce: str = "7654321",
                bad_signature: bool = False) -> tuple[str, bytes]:
        """Return (query string, body) of an encrypted callback carrying `xml`."""
        enc = encrypt(xml, encoding_aes_key=self.aes_key, corp_id=self.corp_id)
        sig = sign(self.token, str(timestamp), nonce, enc)
        if bad_signature:
            sig = sig[:-4] + ("0000" if not sig.endswith("0000") else "1111")
        body = (f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt>"
                "<AgentID><![CDATA[1000002]]></AgentID></xml>").encode()
        return urlencode({"msg_signature": sig, "timestamp": str(timestamp), "nonce": nonce}), body


def text_xml(*, sender: str, content: str, msg_id: str, create_time: int, corp_id: str) -> str:
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>")


def card_click_xml(*, sender: str, event_key: str, task_id: str, response_code: str, create_time: int,
                   corp_id: str) -> str:
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[template_card_event]]></Event>"
            f"<EventKey><![CDATA[{event_key}]]></EventKey><TaskId><![CDATA[{task_id}]]></TaskId>"
            "<CardType><![CDATA[button_interaction]]></CardType>"
            f"<ResponseCode><![CDATA[{response_code}]]></ResponseCode><AgentID>1000002</AgentID></xml>")


def event_xml(*, sender: str, event: str, create_time: int, corp_id: str) -> str:
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><AgentID>1000002</AgentID></xml>")
