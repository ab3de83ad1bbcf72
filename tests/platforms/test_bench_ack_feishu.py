"""bench/ack.py's Feishu side: its people are Feishu people, and its bare floor does the checks ours does."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from tests.support.fake_feishu import OPEN_IDS
from tests.support.feishu_events import message_event, signed_request


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
