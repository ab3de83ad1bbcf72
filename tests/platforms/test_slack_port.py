"""SlackPort against the fake Slack: updates, modals, images, mrkdwn and buttons."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.core.ports import Envelope
from bot.core.settings import Settings
from bot.core.types import Button, Form, FormField, Outbound, ToTarget
from bot.platforms.slack.convert import message_blocks, to_mrkdwn
from bot.platforms.slack.port import SlackPort
from tests.support.fake_slack import FakeSlack, running_fake_slack
from tests.support.slack_app import slack_settings


@pytest.fixture()
def fake() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


@pytest.fixture()
def port(settings: Settings, database_url: str, fake: FakeSlack) -> SlackPort:
    return SlackPort(slack_settings(database_url, fake))


def envelope(msg: Outbound, *, key: str = "k1", kind: str = "user", target: str = "U_BOB",
             **kw: str) -> Envelope:
    return Envelope(key=key, platform="slack", target_kind=kind, target=target, payload=msg.payload(), **kw)


def test_dm_keeps_the_dm_channel_and_ts(port: SlackPort, fake: FakeSlack) -> None:
    res = port.send(envelope(Outbound(to=ToTarget("slack", "user", "U_BOB"), text="hi")))
    assert res.ok and res.ref_channel == "D_BOB" and res.ref_id
    assert fake.ok_calls("chat.postMessage")[0].args["metadata"] == {
        "event_type": "salesbot_outbox", "event_payload": {"key": "k1"}}


def test_update_uses_chat_update_and_falls_back_to_a_new_post(port: SlackPort, fake: FakeSlack) -> None:
    msg = Outbound(to=ToTarget("slack", "user", "U_BOB"), text="approved")
    res = port.send(envelope(msg, update_channel="D_BOB", update_id="1.5"))
    assert res.ok and res.ref_id == "1.5"
    assert fake.ok_calls("chat.update")[0].args["channel"] == "D_BOB"
    fake.fail_next(1, "message_not_found", methods=("chat.update",))
    res = port.send(envelope(msg, key="k2", update_channel="D_BOB", update_id="1.6"))
    assert res.ok and len(fake.ok_calls("chat.postMessage")) == 1


def test_form_opens_a_modal(port: SlackPort, fake: FakeSlack) -> None:
    form = Form("report_form", "Daily report", "Send", (FormField("visits", "Visits", initial="3"),
                                                        FormField("plan", "Plan", multiline=True)), meta="2026-11-23")
    res = port.send(envelope(Outbound(to=ToTarget("slack", "trigger", "tr.9"), form=form), kind="trigger",
                             target="tr.9"))
    assert res.ok
    view = fake.ok_calls("views.open")[0].args["view"]
    assert fake.ok_calls("views.open")[0].args["trigger_id"] == "tr.9"
    assert view["callback_id"] == "report_form" and view["private_metadata"] == "2026-11-23"
    blocks = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert blocks["visits"]["initial_value"] == "3" and blocks["plan"]["multiline"] is True


def test_image_is_uploaded_to_the_dm_channel(port: SlackPort, fake: FakeSlack) -> None:
    msg = Outbound(to=ToTarget("slack", "user", "U_MEAST"), text="**weekly**", image=b"\x89PNG fake")
    res = port.send(envelope(msg, target="U_MEAST"))
    assert res.ok and res.ref_channel == "D_MEAST"
    assert fake.uploads == [b"\x89PNG fake"]
    done = fake.ok_calls("files.completeUploadExternal")[0].args
    assert done["channel_id"] == "D_MEAST" and done["initial_comment"] == "*weekly*"


def test_network_error_is_a_retry(settings: Settings, database_url: str) -> None:
    with running_fake_slack() as gone:
        cfg = slack_settings(database_url, gone)
    res = SlackPort(cfg).send(envelope(Outbound(to=ToTarget("slack", "user", "U_BOB"), text="hi")))
    assert not res.ok and not res.permanent


def test_mrkdwn_and_button_blocks() -> None:
    assert to_mrkdwn("**a** and `**b**` <x>") == "*a* and `**b**` &lt;x&gt;"
    assert to_mrkdwn("- one\n- two") == "• one\n• two"
    buttons = tuple(Button(f"Done {i}", "nudge_done", str(i)) for i in range(30))
    text, blocks = message_blocks(Outbound(to=ToTarget("slack", "user", "U"), text="due",
                                           buttons=buttons).payload())
    actions = [b for b in blocks if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [25, 5]
    ids = [e["action_id"] for a in actions for e in a["elements"]]
    assert len(set(ids)) == 30 and ids[0] == "nudge_done" and ids[1] == "nudge_done#1"
    assert text == "due"
