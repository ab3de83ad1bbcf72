"""bench/ack.py's Feishu side: its people are Feishu people, and its bare floor does the checks ours does."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from bench.loadgen import run_feishu
from bot.core.clock import FixedClock
from bot.core.db import Database
from tests.support.fake_feishu import OPEN_IDS, add_feishu_ids, feishu_env
from tests.support.feishu_events import message_event, signed_request
from tests.support.org import build_org


def test_the_bench_people_have_feishu_ids_and_the_bare_app_verifies_like_ours() -> None:
    from bench.ack import FEISHU_KEY, FEISHU_PATH, FEISHU_USERS, bare_feishu_app

    assert set(FEISHU_USERS) <= set(OPEN_IDS.values())
    with TestClient(bare_feishu_app()) as client:
        body, headers = signed_request(message_event("ou_li", "日报"), timestamp=1_800_000_000, key=FEISHU_KEY)
        resp = client.post(FEISHU_PATH, content=body, headers=headers)
        assert resp.status_code == 200 and resp.json() == {}
        forged = json.dumps({"encrypt": json.loads(body)["encrypt"][:-4] + "AAA="}).encode()
        assert client.post(FEISHU_PATH, content=forged, headers=headers).status_code == 401
        body, headers = signed_request(message_event("ou_li", "日报"), timestamp=1_800_000_000, key="other")
        assert client.post(FEISHU_PATH, content=body, headers=headers).status_code == 401


def test_our_server_accepts_the_loadgen_events(db: Database, clock: FixedClock, database_url: str) -> None:
    import asyncio

    from bench.ack import FEISHU_KEY, FEISHU_TOKEN

    add_feishu_ids(db, build_org(db))
    with feishu_env(db, clock, database_url) as env:
        assert env.app.settings.feishu.encrypt_key.get_secret_value() == FEISHU_KEY
        assert env.app.settings.feishu.verification_token.get_secret_value() == FEISHU_TOKEN
        event = message_event("ou_zhang", "日报\n拜访: 3", create_ms=env.now_ts() * 1000)
        body, headers = signed_request(event, timestamp=env.now_ts(), key=FEISHU_KEY)
        assert env.http.post("/feishu/events", content=body, headers=headers).status_code == 200
    assert asyncio.iscoroutinefunction(run_feishu)
