"""Verify and decrypt Feishu HTTP events and card callbacks; refuse stale ones (Feishu does not).

With an Encrypt Key, Feishu sends `{"encrypt": base64(IV + AES-256-CBC(body))}` (key = SHA-256 of
the Encrypt Key) and the headers X-Lark-Request-Timestamp, X-Lark-Request-Nonce and
X-Lark-Signature = sha256_hex(timestamp + nonce + encrypt_key + raw body). The body also carries the
app's Verification Token. An event is accepted only when all of these hold and the timestamp is
within `max_timestamp_skew_seconds` of now: without an Encrypt Key nothing is signed, so nothing
but the URL check is accepted (a captured request could be replayed for ever).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.core.settings import FeishuSettings

MAX_BODY_BYTES = 1_000_000
URL_VERIFICATION = "url_verification"


class Rejected(Exception):
    """The request is not from Feishu, or too old to trust: answer 401, store nothing."""


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """X-Lark-Signature of a request body."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def decrypt(encrypted: str, key: str) -> str:
    """Feishu's `encrypt` field: base64(IV + AES-256-CBC(PKCS#7(text))) with key = SHA-256(Encrypt Key).

    (lark-oapi's AESCipher does the same, but importing lark_oapi loads its whole API: seconds at start-up.)
    """
    raw = base64.b64decode(encrypted, validate=True)
    if len(raw) < 32 or len(raw) % 16:
        raise ValueError("invalid ciphertext length")
    decryptor = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(raw[:16])).decryptor()
    padded = decryptor.update(raw[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode()


class EventCrypto:
    def __init__(self, settings: FeishuSettings) -> None:
        self._token = settings.verification_token.get_secret_value()
        self._key = settings.encrypt_key.get_secret_value()
        self._max_skew = settings.max_timestamp_skew_seconds

    def open(self, body: bytes, headers: dict[str, str], now: datetime) -> dict[str, Any]:
        """Return the verified, decrypted event (or URL check) of a request, or raise Rejected."""
        if len(body) > MAX_BODY_BYTES:
            raise Rejected("body too large")
        outer = _json(body)
        encrypted = outer.get("encrypt")
        signed = any(k.lower() == "x-lark-signature" for k in headers)
        if isinstance(encrypted, str):
            if not self._key:
                raise Rejected("encrypted body but feishu.encrypt_key is empty")
            if signed:  # before decrypting: a forged or replayed body costs a hash, nothing more
                self._check_signature(body, headers, now)
            try:
                inner = _json(decrypt(encrypted, self._key).encode())
            except (ValueError, UnicodeDecodeError):
                raise Rejected("cannot decrypt (is feishu.encrypt_key the app's Encrypt Key?)") from None
        else:
            inner = outer
        self._check_token(inner)
        if inner.get("type") == URL_VERIFICATION:
            return inner  # the URL check stores nothing; Feishu sends it unsigned
        if not isinstance(encrypted, str) or not signed:
            raise Rejected("unsigned event (set the app's Encrypt Key and feishu.encrypt_key)")
        return inner

    def _check_token(self, inner: dict[str, Any]) -> None:
        header = inner.get("header")
        token = header.get("token") if isinstance(header, dict) else inner.get("token")
        if not self._token or not isinstance(token, str) \
                or not hmac.compare_digest(token.encode(), self._token.encode()):
            raise Rejected("wrong verification token")

    def _check_signature(self, body: bytes, headers: dict[str, str], now: datetime) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-lark-request-timestamp", "")
        nonce = lowered.get("x-lark-request-nonce", "")
        sig = lowered.get("x-lark-signature", "")
        if not timestamp or not sig:
            raise Rejected("missing X-Lark-Request-Timestamp or X-Lark-Signature")
        try:
            stamp = int(timestamp)
        except ValueError:
            raise Rejected("timestamp is not a number") from None
        if abs(now.timestamp() - stamp) > self._max_skew:
            raise Rejected("stale timestamp")
        if not hmac.compare_digest(signature(timestamp, nonce, self._key, body), sig.lower()):
            raise Rejected("bad signature")


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Rejected("body is not JSON") from None
    if not isinstance(data, dict):
        raise Rejected("body is not a JSON object")
    return data
