"""Slack's request signature, the buttons on a message, and the message after a press
(shared/wave/slack_buttons.py; the route itself: tests/integration/test_slack_buttons.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.channels.slack import SlackSender
from shared.models import Receiver
from shared.render.slack import render
from shared.slack_interactivity import SlackInteractivity
from shared.standins.enriched_samples import sample_enriched
from shared.storage import InMemoryEntityTable
from shared.wave.claims import ClaimStore
from shared.wave.slack_buttons import (
    BLOCK_ID,
    OWNERS_BLOCK_ID,
    ClaimableVm,
    SlackSignatureError,
    SlackStaleError,
    SlackUnsignedError,
    after_press,
    claim_block,
    signature,
    verify,
)

# The worked example of https://api.slack.com/authentication/verifying-requests-from-slack
# (a slash command's body; the scheme is the same for every request Slack signs).
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook"
    b"-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F3977"
    b"00885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10"
    b"d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
AT = datetime.fromtimestamp(int(DOC_TIMESTAMP), UTC)


def test_slacks_worked_example_is_signed_and_verified_as_slack_does() -> None:
    assert signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    headers = {"X-Slack-Request-Timestamp": DOC_TIMESTAMP, "X-Slack-Signature": DOC_SIGNATURE}
    assert verify(DOC_SECRET, headers, DOC_BODY, AT) == DOC_SIGNATURE


def _headers(**changes: str) -> dict[str, str]:
    return {"X-Slack-Request-Timestamp": DOC_TIMESTAMP, "X-Slack-Signature": DOC_SIGNATURE} | {
        key.replace("_", "-"): value for key, value in changes.items()
    }


VERIFY_CASES: list[tuple[str, dict[str, str], bytes, float, type[Exception] | None]] = [
    # GIVEN headers,                       body,          seconds after, THEN
    ("good", _headers(), DOC_BODY, 0, None),
    ("headers in lower case", {k.lower(): v for k, v in _headers().items()}, DOC_BODY, 0, None),
    ("5 minutes old", _headers(), DOC_BODY, 300, None),
    ("5 minutes and 1 s old", _headers(), DOC_BODY, 301, SlackStaleError),
    ("6 minutes in the future", _headers(), DOC_BODY, -360, SlackStaleError),
    ("a byte changed", _headers(), DOC_BODY.replace(b"foobar", b"foobaz"), 0, SlackSignatureError),
    ("another secret", _headers(X_Slack_Signature="v0=" + "0" * 64), DOC_BODY, 0,
     SlackSignatureError),
    ("v1 scheme", _headers(X_Slack_Signature=DOC_SIGNATURE.replace("v0=", "v1=")), DOC_BODY, 0,
     SlackUnsignedError),
    ("no signature", {"X-Slack-Request-Timestamp": DOC_TIMESTAMP}, DOC_BODY, 0, SlackUnsignedError),
    ("timestamp not a number", _headers(X_Slack_Request_Timestamp="soon"), DOC_BODY, 0,
     SlackUnsignedError),
]  # fmt: skip


@pytest.mark.parametrize(
    ("headers", "body", "later", "error"),
    [c[1:] for c in VERIFY_CASES],
    ids=[c[0] for c in VERIFY_CASES],
)
def test_verify(
    headers: dict[str, str], body: bytes, later: float, error: type[Exception] | None
) -> None:
    now = datetime.fromtimestamp(int(DOC_TIMESTAMP) + later, UTC)
    if error is None:
        assert verify(DOC_SECRET, headers, body, now) == DOC_SIGNATURE
    else:
        with pytest.raises(error):
            verify(DOC_SECRET, headers, body, now)


def _vm(name: str) -> ClaimableVm:
    return ClaimableVm(
        f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}",
        name,
    )


def _labels(block: dict[str, Any] | None) -> list[str]:
    return [e["text"]["text"] for e in (block or {}).get("elements", [])]


BUTTON_CASES = [
    # GIVEN VMs to claim, tracking id    THEN the buttons
    ("one VM", ["sql-01"], "TRK", ["Claim sql-01", "Snooze 24 h"]),
    ("two VMs", ["sql-01", "sql-02"], "TRK",
     ["Claim sql-01", "Claim sql-02", "Claim the wave", "Snooze 24 h"]),
    ("no tracking id", ["sql-01", "sql-02"], "", ["Claim sql-01", "Claim sql-02", "Snooze 24 h"]),
    ("six VMs: four by name", [f"vm-{n}" for n in range(6)], "TRK",
     ["Claim vm-0", "Claim vm-1", "Claim vm-2", "Claim vm-3", "Claim the wave", "Snooze 24 h"]),
    ("nothing to claim", [], "TRK", []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("vms", "tracking", "labels"), [c[1:] for c in BUTTON_CASES], ids=[c[0] for c in BUTTON_CASES]
)
def test_claim_block(vms: list[str], tracking: str, labels: list[str]) -> None:
    block = claim_block([_vm(name) for name in vms], "ops-slack", tracking)
    assert _labels(block) == labels
    if block is not None:
        ids = [e["action_id"] for e in block["elements"]]
        assert len(set(ids)) == len(ids)  # Slack wants them unique within the block
        values = [json.loads(e["value"]) for e in block["elements"]]
        assert all(v["r"] == "ops-slack" for v in values)
        assert all(len(e["value"]) <= 2000 for e in block["elements"])


def _message(vms: list[str]) -> list[dict[str, Any]]:
    header = {"type": "header", "text": {"type": "plain_text", "text": "h"}}
    return [header, claim_block([_vm(name) for name in vms], "ops-slack", "TRK") or {}]


AFTER_CASES = [
    # GIVEN buttons, WHEN settled, wave?, said           THEN buttons left, owners' lines
    ("one VM claimed", ["a", "b"], ["a"], False, ["a: claimed by X"],
     ["Claim b", "Claim the wave", "Snooze 24 h"], ["a: claimed by X"]),
    ("the wave claimed", ["a", "b"], [], True, ["Wave TRK: claimed by X for ops-slack"],
     ["Snooze 24 h"], ["Wave TRK: claimed by X for ops-slack"]),
    ("snoozed", ["a"], [], False, ["a: reminders snoozed until T by X"],
     ["Claim a", "Snooze 24 h"], ["a: reminders snoozed until T by X"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("vms", "settled", "wave", "said", "left", "lines"),
    [c[1:] for c in AFTER_CASES],
    ids=[c[0] for c in AFTER_CASES],
)
def test_after_press(
    vms: list[str],
    settled: list[str],
    wave: bool,
    said: list[str],
    left: list[str],
    lines: list[str],
) -> None:
    blocks = after_press(
        _message(vms), said, [_vm(name).vm_id for name in settled], wave_claimed=wave
    )
    buttons = next((b for b in blocks if b.get("block_id") == BLOCK_ID), None)
    assert _labels(buttons) == left
    owners = next(b for b in blocks if b.get("block_id") == OWNERS_BLOCK_ID)
    assert owners["elements"][0]["text"].split("\n") == lines


def test_a_second_press_replaces_that_vms_line_and_keeps_the_others() -> None:
    first = after_press(_message(["a", "b"]), ["a: claimed by X"], [_vm("a").vm_id])
    second = after_press(first, ["b: claimed by Y", "a: claimed by Z"], [_vm("b").vm_id])
    owners = next(b for b in second if b.get("block_id") == OWNERS_BLOCK_ID)
    assert owners["elements"][0]["text"] == "b: claimed by Y\na: claimed by Z"
    assert [b.get("block_id") for b in second].count(OWNERS_BLOCK_ID) == 1


TOKEN = {"token_setting": "SLACK_TOKEN"}
HOOK = {"webhook_url_setting": "SLACK_URL"}
RENDER_CASES = [
    # GIVEN the receiver's options, claimed?   THEN the message has buttons
    ("bot token", TOKEN, False, True),
    ("incoming webhook", HOOK, False, False),
    ("both (the sender uses the webhook)", TOKEN | HOOK, False, False),
    ("bot token, every VM claimed", TOKEN, True, False),
]


@pytest.mark.parametrize(
    ("options", "claimed", "buttons"),
    [c[1:] for c in RENDER_CASES],
    ids=[c[0] for c in RENDER_CASES],
)
def test_only_bot_token_receivers_get_buttons_for_unclaimed_vms(
    options: dict[str, str], claimed: bool, buttons: bool
) -> None:
    enriched = sample_enriched()
    if claimed:
        vms = [replace(vm, owners={"ops-slack": "Alice"}) for vm in enriched.vms]
        enriched = replace(enriched, vms=vms)
    receiver = Receiver("ops-slack", "slack", ["C1"], options=options)
    message = render(enriched, receiver, enriched.vms, datetime(2026, 12, 7, tzinfo=UTC))
    blocks = message.payload["blocks"]
    assert any(b.get("block_id") == BLOCK_ID for b in blocks) is buttons
    assert blocks[-1]["type"] == "context"  # the footer stays last


def test_without_a_signing_secret_a_press_is_refused_before_anything_is_read() -> None:
    handled = InMemoryEntityTable()
    service = SlackInteractivity(
        None,
        handled,
        ClaimStore(InMemoryEntityTable()),
        lambda: None,
        SlackSender({}),  # type: ignore[arg-type,return-value]
    )
    answer = service.handle(_headers(), DOC_BODY, AT)
    assert (answer.status, answer.body["error"]) == (503, "no_signing_secret")
    assert list(handled.query()) == []


def _said(*lines: str) -> list[dict[str, Any]]:
    text = "\n".join(lines)
    return [{"type": "context", "block_id": OWNERS_BLOCK_ID, "elements": [{"text": text}]}]


UNTRUE_CASES = [
    # GIVEN the updated message says                      THEN the oracle finds
    ("true", ["sql-01: claimed by Alice &lt;a&gt;", "Wave TRK: claimed by Bob for ops-slack",
              "sql-01, sql-02: reminders snoozed until Sat 2 Mar 10:00 CET by Bob (…)"], []),
    ("another owner", ["sql-01: claimed by Mallory"], ["slack_claimed"]),
    ("a VM nobody claimed", ["sql-02: claimed by Alice <a>"], ["slack_claimed"]),
    ("another receiver", ["Wave TRK: claimed by Bob for db-slack"], ["slack_wave_claimed"]),
    ("another moment", ["sql-02: reminders snoozed until Sun 3 Mar 10:00 CET by Bob"],
     ["slack_snoozed"]),
    ("ISO 8601, not the zone", ["sql-02: reminders snoozed until 2030-03-02T09:00:00Z by Bob"],
     ["slack_snoozed"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "checks"), [c[1:] for c in UNTRUE_CASES], ids=[c[0] for c in UNTRUE_CASES]
)
def test_the_truth_oracle_reads_an_updated_message_against_the_claims(
    lines: list[str], checks: list[str]
) -> None:
    from tests.support.truth_oracle import slack_update_untrue

    store = ClaimStore(InMemoryEntityTable())
    store.claim_vm(_vm("sql-01").vm_id, "Alice <a>", "ops-slack", AT)
    store.claim_wave("TRK", "Bob", "ops-slack", AT)
    for name in ("sql-01", "sql-02"):
        store.snooze(_vm(name).vm_id, datetime(2030, 3, 2, 9, tzinfo=UTC))
    names = {name: _vm(name).vm_id for name in ("sql-01", "sql-02")}
    found = slack_update_untrue(_said(*lines), names, store.ownership(), "Europe/Paris")
    assert [item.check for item in found] == checks


def test_marks_of_presses_before_yesterday_are_forgotten() -> None:
    from shared.slack_interactivity import forget_handled

    table = InMemoryEntityTable()
    for day in ("20301205", "20301206", "20301207"):
        table.insert_if_absent(day, f"press-{day}", {"at": day})
    now = datetime(2030, 12, 7, 0, 30, tzinfo=UTC)
    assert forget_handled(table, now) == 1
    assert sorted(row["PartitionKey"] for row in table.query()) == ["20301206", "20301207"]
    assert forget_handled(table, now) == 0


HEALTH_CASES = [
    # GIVEN FOREWARN_SLACK_SIGNING_SECRET           THEN /api/health says      healthy
    ("unset", None, "off", True),
    ("Slack's 32 characters", "0123456789abcdef0123456789abcdef", "ok", True),
    ("too short", "short-secret", "too short", False),
    ("unresolved", "@Microsoft.KeyVault(SecretUri=https://v/secrets/s/)", "unresolved", False),
]


@pytest.mark.parametrize(
    ("value", "state", "healthy"), [c[1:] for c in HEALTH_CASES], ids=[c[0] for c in HEALTH_CASES]
)
def test_health_names_the_signing_secrets_state_never_its_value(
    value: str | None, state: str, healthy: bool
) -> None:
    from shared import names
    from shared.health import HealthReport
    from shared.slack_interactivity import signing_secret_state

    said = signing_secret_state({names.SETTING_SLACK_SIGNING_SECRET: value} if value else {})
    assert said.startswith(state)
    assert value is None or value not in said
    report = HealthReport({"queues": "ok", "tables": "ok"}, slack_signing_secret=said)
    assert report.to_json()["slack_signing_secret"] == said
    assert report.healthy is healthy
