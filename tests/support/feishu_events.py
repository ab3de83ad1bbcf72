"""Feishu event bodies, encrypted and signed the way Feishu does it, independently of lark-oapi (for tests)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# Feishu's documented sample: this ciphertext under Encrypt Key "test key" is "hello world".
SAMPLE_KEY = "test key"
SAMPLE_ENCRYPTED = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="
SAMPLE_PLAIN = "hello world"

ENCRYPT_KEY = "kx8Yc2Qm3rN7tP0vW5zA"
VERIFICATION_TOKEN = "vt-9sd8f7g6h5j4k3"
APP_ID = "cli_test_app"
APP_SECRET = "feishu-s3cret"

_seq = itertools.count(1)


def encrypt(plain: str, key: str, *, iv: bytes | None = None) -> str:
    """base64(IV + AES-256-CBC(PKCS#7(plain))) with key = SHA-256(Encrypt Key)."""
    digest = hashlib.sha256(key.encode()).digest()
    iv = iv or os.urandom(16)
    data = plain.encode()
    pad = 16 - len(data) % 16
    data += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(digest), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(data) + enc.finalize()).decode()


def sign(timestamp: str, nonce: str, key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + key).encode() + body).hexdigest()


def signed_request(event: dict[str, Any], *, timestamp: int, key: str = ENCRYPT_KEY, nonce: str = "n0nce",
                   bad_signature: bool = False, encrypted: bool = True) -> tuple[bytes, dict[str, str]]:
    """The body and headers Feishu posts for an event (encrypted with `key`, signed)."""
    plain = json.dumps(event, ensure_ascii=False)
    body = json.dumps({"encrypt": encrypt(plain, key)}).encode() if encrypted else plain.encode()
    sig = sign(str(timestamp), nonce, key, body)
    if bad_signature:
        sig = ("0" if sig[0] != "0" else "1") + sig[1:]
    headers = {"Content-Type": "application/json", "X-Lark-Request-Timestamp": str(timestamp),
               "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": sig}
    return body, headers


def message_event(open_id: str, text: str, *, message_id: str | None = None, chat_type: str = "p2p",
                  create_ms: int = 0, token: str = VERIFICATION_TOKEN, mentions: list[dict[str, Any]] | None = None,
                  event_id: str | None = None) -> dict[str, Any]:
    """im.message.receive_v1 as Feishu sends it (schema 2.0)."""
    n = next(_seq)
    return {
        "schema": "2.0",
        "header": {"event_id": event_id or f"ev_{n:08d}", "event_type": "im.message.receive_v1",
                   "create_time": str(create_ms), "token": token, "app_id": APP_ID, "tenant_key": "tk1"},
        "event": {
            "sender": {"sender_id": {"open_id": open_id, "union_id": f"on_{open_id}", "user_id": ""},
                       "sender_type": "user", "tenant_key": "tk1"},
            "message": {"message_id": message_id or f"om_{n:08d}", "create_time": str(create_ms),
                        "chat_id": f"oc_{open_id}", "chat_type": chat_type, "message_type": "text",
                        "content": json.dumps({"text": text}, ensure_ascii=False), "mentions": mentions or []},
        },
    }


def card_event(open_id: str, action_id: str, value: str, *, message_id: str = "om_card", create_ms: int = 0,
               token: str = VERIFICATION_TOKEN, event_id: str | None = None) -> dict[str, Any]:
    """card.action.trigger for a button whose callback value is {"action": ..., "value": ...}."""
    n = next(_seq)
    return {
        "schema": "2.0",
        "header": {"event_id": event_id or f"ev_card_{n:08d}", "event_type": "card.action.trigger",
                   "create_time": str(create_ms), "token": token, "app_id": APP_ID, "tenant_key": "tk1"},
        "event": {
            "operator": {"tenant_key": "tk1", "open_id": open_id, "union_id": f"on_{open_id}"},
            "token": f"c-{n:08d}",
            "action": {"value": {"action": action_id, "value": value}, "tag": "button"},
            "host": "im_message",
            "context": {"open_message_id": message_id, "open_chat_id": f"oc_{open_id}"},
        },
    }
