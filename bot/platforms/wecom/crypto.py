"""Callback verification and decryption (wechatpy's WeChatCrypto), plus the timestamp age check."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.core.settings import WecomSettings

MAX_BODY_BYTES = 1_000_000


class CallbackRejected(Exception):
    """The callback is not from WeCom, or too old to trust; answer 403."""


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Return WeCom's msg_signature: sha1 over the sorted parts."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()


class CallbackCrypto:
    """Verify msg_signature and the timestamp's age, then decrypt with the EncodingAESKey."""

    def __init__(self, settings: WecomSettings) -> None:
        self._token = settings.token.get_secret_value()
        self._max_skew = settings.max_timestamp_skew_seconds
        self._crypto = WeChatCrypto(self._token, settings.encoding_aes_key.get_secret_value(),
                                    settings.corp_id)

    def _check(self, sig: str | None, timestamp: str | None, nonce: str | None, encrypt: str | None,
               now: datetime) -> None:
        if not (sig and timestamp and nonce and encrypt):
            raise CallbackRejected("missing msg_signature, timestamp, nonce or payload")
        try:
            stamp = int(timestamp)
        except ValueError:
            raise CallbackRejected("timestamp is not a number") from None
        if abs(now.timestamp() - stamp) > self._max_skew:
            raise CallbackRejected("stale timestamp")
        if not hmac.compare_digest(signature(self._token, timestamp, nonce, encrypt), sig.lower()):
            raise CallbackRejected("bad signature")

    def _decrypt(self, encrypt: str) -> str:
        from wechatpy.enterprise.crypto import PrpCrypto

        try:
            return str(PrpCrypto(self._crypto.key).decrypt(encrypt, self._crypto.corp_id))
        except Exception:  # bad base64, padding, length or corp id: not ours
            raise CallbackRejected("cannot decrypt") from None

    def verify_url(self, *, msg_signature: str | None, timestamp: str | None, nonce: str | None,
                   echostr: str | None, now: datetime) -> str:
        """Return the decrypted echostr of a URL verification, or raise CallbackRejected."""
        self._check(msg_signature, timestamp, nonce, echostr, now)
        assert echostr is not None
        return self._decrypt(echostr)

    def decrypt_body(self, body: bytes, *, msg_signature: str | None, timestamp: str | None,
                     nonce: str | None, now: datetime) -> str:
        """Return the decrypted XML of a callback body, or raise CallbackRejected."""
        if len(body) > MAX_BODY_BYTES:
            raise CallbackRejected("body too large")
        try:
            outer = xmltodict.parse(body.decode("utf-8"))["xml"]
            encrypt = outer.get("Encrypt") if isinstance(outer, dict) else None
        except Exception:
            raise CallbackRejected("body is not WeCom XML") from None
        self._check(msg_signature, timestamp, nonce, encrypt if isinstance(encrypt, str) else None, now)
        assert isinstance(encrypt, str)
        return self._decrypt(encrypt)
