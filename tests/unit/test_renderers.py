"""Renderers: golden files, hostile text on every channel, limits at 2,000 VMs, SMS encoding.

Golden files live in tests/golden/; after a deliberate change, regenerate them with
``FOREWARN_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_renderers.py`` and read
the diff before committing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, cast

import pytest
from jsonschema import Draft202012Validator

from shared.models import ChannelName, EnrichedEvent, Receiver, RenderedMessage
from shared.render import RENDERERS, render_message
from shared.render import email as email_renderer
from shared.render import slack as slack_renderer
from shared.render import sms as sms_renderer
from shared.render import teams as teams_renderer
from shared.render.facts import portal_link
from shared.standins.enriched_samples import (
    NOW,
    enriched_with_vms,
    enriched_without_vms,
    hostile_enriched,
    sample_enriched,
)
from tests.support.hostile import check_pagerduty

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
WEBHOOK_SCHEMA = json.loads((ROOT / "docs" / "webhook-payload.schema.json").read_text("utf-8"))
CHANNELS = sorted(RENDERERS)


def receiver_for(
    channel: str, timezone: str = "America/Los_Angeles", language: str = "en"
) -> Receiver:
    return Receiver(
        name=f"{channel}-receiver",
        type=cast(ChannelName, channel),
        targets=[],
        timezone=timezone,
        language=language,
    )


def render(enriched: EnrichedEvent, channel: str, **receiver: str) -> RenderedMessage:
    return render_message(enriched, receiver_for(channel, **receiver), enriched.vms, NOW)


# --------------------------------------------------------------------------------------
# Golden files


def service_health_test_incident() -> EnrichedEvent:
    """The Action Group's Service Health test as Azure sends it: an Incident, Resolved."""
    from datetime import UTC, datetime

    from shared.parsing.normalise import parse_alert
    from tests.conftest import load_fixture

    received = datetime(2021, 11, 17, 6, 0, tzinfo=UTC)
    payload = load_fixture("common-servicehealth-incident-testaction-2021.json")
    return EnrichedEvent.without_vms(parse_alert(payload, received), "2021-11-17T06:00:01Z")


SCENARIOS = {
    "maintenance-4vms-los-angeles": (sample_enriched, {"timezone": "America/Los_Angeles"}),
    "service-health-test-incident-utc": (service_health_test_incident, {"timezone": "UTC"}),
    "service-notice-no-vms-berlin-de": (
        enriched_without_vms,
        {"timezone": "Europe/Berlin", "language": "de"},
    ),
}


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rendered_message_matches_its_golden_file(channel: str, scenario: str) -> None:
    factory, receiver = SCENARIOS[scenario]
    message = render(factory(), channel, **receiver)
    actual = json.dumps(message.to_json(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    path = GOLDEN / f"render-{channel}-{scenario}.json"
    if os.environ.get("FOREWARN_UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with FOREWARN_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------
# What every message says


@pytest.mark.parametrize("channel", ["email", "slack", "teams"])
def test_every_rich_message_says_the_whole_story(channel: str) -> None:
    message = render(sample_enriched(), channel)
    everything = json.dumps(message.to_json(), ensure_ascii=False)
    for fact in (
        "Azure reboots 4 VMs",  # what is planned
        "web-01",
        "sql-01",
        "batch-07",  # which VMs
        "Self-service",
        "Scheduled",  # both windows
        "PDT",
        "UTC",  # receiver's zone with UTC beside
        "Self-service allowed now",
        "Yes, until",
        "Start 1 VM yourself by",  # the lead: what to do, by when
        "Tracking ID",
        "zone 2",  # the plan step says what its VMs share
        "No: Azure does not offer self-service",
        "Start it yourself",
        "Multi-tier application",  # advice and its reason
        "Plan",
        "az vm perform-maintenance -g rg-data-prod -n sql-01",
        "forewarn start-maintenance",
        "https://app.azure.com/h/%3CGUID%3E/bbadb3",  # portal link (docs' short form)
    ):
        assert fact in everything, (channel, fact)


def test_no_command_is_offered_where_self_service_is_advised_against() -> None:
    message = render(sample_enriched(), "email")
    assert "-n sql-01" in message.text
    assert "-n web-01" not in message.text  # in an availability set: let Azure walk the UDs


@pytest.mark.parametrize(
    ("tracking_id", "subscription", "expected"),
    [
        pytest.param(
            "0DET-URB",
            "bba4f1e2-7c3d-4e5f-8a9b-0c1d2e3fadb3",
            "https://app.azure.com/h/0DET-URB/bbadb3",
            id="docs-example",
        ),
        pytest.param(
            "A B/C", "12345678-aaaa", "https://app.azure.com/h/A%20B%2FC/123aaa", id="quoted"
        ),
        pytest.param(None, "bba4f1e2-7c3d-4e5f-8a9b-0c1d2e3fadb3", None, id="no-tracking-id"),
    ],
)
def test_portal_link(tracking_id: str | None, subscription: str, expected: str | None) -> None:
    assert portal_link(tracking_id, subscription) == expected


# --------------------------------------------------------------------------------------
# Hostile text: from alerts, VM names and tags, on every channel

HOSTILE = [
    pytest.param("<!channel>", id="slack-broadcast"),
    pytest.param("@here @everyone", id="at-mentions"),
    pytest.param("<script>alert(1)</script>", id="script-tag"),
    pytest.param("\r\nBcc: victim@evil.example", id="header-injection"),
    pytest.param("[Azure portal](http://evil.example)", id="markdown-link"),
    pytest.param("<http://evil.example|Azure portal>", id="slack-link-spoof"),
    pytest.param("**urgent** _now_ <at>Everyone</at>", id="markdown-and-teams-mention"),
    pytest.param("😀 “smart” — ✓ ñ 中文", id="ucs2-forcing"),
    pytest.param("\u202eevil\u200b", id="bidi-override"),
]
# Markup that must never reach a recipient unescaped, by channel.
HTML_DANGERS = ("<script", "<!channel>", "<http://evil", "<at>", "\u202e")
MENTION = re.compile(r"@(here|channel|everyone)\b")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _check_slack_escaped(message: RenderedMessage) -> None:
    payload = message.payload or {}
    for text in [message.text, *_strings(payload["blocks"])]:
        # We write no angle bracket ourselves: any "<" would be someone's link or mention.
        assert "<" not in text and ">" not in text, text[:200]
        assert not MENTION.search(text), text[:200]
    mrkdwn = [
        obj
        for block in payload["blocks"]
        for obj in [block.get("text"), *block.get("elements", [])]
        if isinstance(obj, dict) and obj.get("type") == "mrkdwn"
    ]
    assert mrkdwn and all(obj.get("verbatim") is True for obj in mrkdwn)


def _check_teams_escaped(message: RenderedMessage) -> None:
    for text in _strings(message.payload):
        if text.startswith("https://"):
            continue  # an Action.OpenUrl target (percent-encoded), not text
        assert not re.search(r"(?<!\\)[<\[]", text), text[:200]  # no tags, no [link](...)
        assert "**urgent" not in text and "_now_" not in text, text[:200]


def _check_email_escaped(message: RenderedMessage) -> None:
    for danger in HTML_DANGERS:
        assert danger not in (message.html or ""), danger
    assert "\r" not in message.subject and "\n" not in message.subject
    assert len(message.subject) <= email_renderer.LIMITS.subject_chars


def _check_sms_encoded(message: RenderedMessage) -> None:
    assert message.meta["encoding"] == "GSM-7"
    assert message.meta["segments"] <= sms_renderer.LIMITS.max_segments
    assert "\u202e" not in message.text


ESCAPE_CHECKS = {
    "slack": _check_slack_escaped,
    "teams": _check_teams_escaped,
    "email": _check_email_escaped,
    "sms": _check_sms_encoded,
}


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("channel", sorted(ESCAPE_CHECKS))
def test_hostile_text_cannot_become_markup(channel: str, hostile: str) -> None:
    enriched = hostile_enriched(hostile)
    message = render(enriched, channel)
    ESCAPE_CHECKS[channel](message)
    # The text is still shown (escaped), not silently dropped: the VM name is recognisable.
    if channel in ("slack", "teams", "email"):
        assert "web-01" in json.dumps(message.to_json(), ensure_ascii=False)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_webhook_passes_hostile_text_as_data_in_a_valid_document(hostile: str) -> None:
    enriched = hostile_enriched(hostile)
    message = render(enriched, "webhook")
    Draft202012Validator(WEBHOOK_SCHEMA).validate(message.payload)
    assert (message.payload or {})["event"]["title"] == enriched.event.title
    assert json.loads(json.dumps(message.payload))["vms"][0]["tags"]["note"] == hostile


# --------------------------------------------------------------------------------------
# Limits: 2,000 VMs (and 2,000 long, hostile names) stay within every channel's limits

BIG = {
    "2000-vms": lambda: enriched_with_vms(2000),
    "2000-long-hostile-names": lambda: _long_names(enriched_with_vms(2000)),
}


def _long_names(enriched: EnrichedEvent) -> EnrichedEvent:
    from dataclasses import replace

    vms = [replace(vm, name=f"{vm.name}-<&>-" + "x" * 40) for vm in enriched.vms]
    return replace(enriched, vms=vms)


def _check_slack(message: RenderedMessage) -> None:
    limits = slack_renderer.LIMITS
    blocks = (message.payload or {})["blocks"]
    assert len(blocks) <= limits.max_blocks
    total = 0
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= limits.header_chars
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= limits.section_chars
        texts = [block.get("text", {}).get("text", "")] + [
            e.get("text", "") for e in block.get("elements", []) if isinstance(e.get("text"), str)
        ]
        total += sum(len(text) for text in texts)
    assert total <= 12_000
    assert len(message.text) <= limits.fallback_chars
    assert re.search(r"and \d+ more", json.dumps(blocks))


def _check_teams(message: RenderedMessage) -> None:
    size = len(json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode())
    assert size <= teams_renderer.LIMITS.budget_bytes < teams_renderer.LIMITS.max_bytes
    assert re.search(r"and \d+ more", json.dumps(message.payload))


def _check_email(message: RenderedMessage) -> None:
    assert len(message.subject) <= 78
    assert len((message.html or "").encode()) <= email_renderer.LIMITS.html_budget_bytes
    assert max(len(line) for line in message.text.splitlines()) <= 998
    assert re.search(r"and \d+ more", message.text)


# The GSM-7 extension table: each costs two septets (escape + character).
GSM7_DOUBLE = "^{}\\[~]|€"


def septets(text: str) -> int:
    """GSM-7 length by the rule, not with count_segments (which made the meta under test)."""
    return len(text) + sum(text.count(char) for char in GSM7_DOUBLE)


def _check_sms(message: RenderedMessage) -> None:
    # Printable ASCII except the backtick is GSM-7; 160 septets fit one SMS, 153 each part.
    text = message.text
    assert text.isascii() and text.isprintable() and "`" not in text, text
    units = septets(text)
    segments = 1 if units <= 160 else -(-units // 153)
    assert {key: message.meta[key] for key in ("encoding", "segments", "units")} == {
        "encoding": "GSM-7",
        "segments": segments,
        "units": units,
    }
    assert segments <= sms_renderer.LIMITS.max_segments


def _check_webhook(message: RenderedMessage) -> None:
    Draft202012Validator(WEBHOOK_SCHEMA).validate(message.payload)
    document = message.payload or {}
    assert document["vm_count"] == 2000
    assert len(document["vms"]) + document["vms_omitted"] == 2000
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert message.meta["bytes"] == len(body)  # counted by the renderer, not serialised


CHECKS = {
    "pagerduty": check_pagerduty,
    "slack": _check_slack,
    "teams": _check_teams,
    "email": _check_email,
    "sms": _check_sms,
    "webhook": _check_webhook,
}


@pytest.fixture(scope="module", params=sorted(BIG))
def big_event(request: pytest.FixtureRequest) -> EnrichedEvent:
    return BIG[request.param]()


@pytest.mark.parametrize("channel", CHANNELS)
def test_2000_vms_stay_within_the_channel_limits(channel: str, big_event: EnrichedEvent) -> None:
    CHECKS[channel](render(big_event, channel))


# --------------------------------------------------------------------------------------
# SMS: GSM-7 and segments


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("“Hi” — it’s done…", '"Hi" - it\'s done...', id="typography-to-ascii"),
        pytest.param("Zürich Ñandú é", "Zürich Ñandu é", id="gsm-letters-kept-others-stripped"),
        pytest.param("São Paulo", "Sao Paulo", id="accent-outside-gsm"),
        pytest.param("ok 😀👍🏽", "ok ", id="emoji-dropped"),
        pytest.param("中文", "??", id="other-scripts"),
        pytest.param("{[€]}", "{[€]}", id="extension-kept"),
    ],
)
def test_text_is_mapped_to_gsm7(given: str, expected: str) -> None:
    assert sms_renderer.to_gsm7(given) == expected


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        pytest.param("a" * 160, "GSM-7", 1, id="160-gsm-one"),
        pytest.param("a" * 161, "GSM-7", 2, id="161-gsm-two"),
        pytest.param("a" * 306, "GSM-7", 2, id="306-gsm-two"),
        pytest.param("a" * 307, "GSM-7", 3, id="307-gsm-three"),
        pytest.param("€" * 80, "GSM-7", 1, id="extension-counts-double"),
        pytest.param("€" * 81, "GSM-7", 2, id="extension-over"),
        pytest.param("é" + "ç" * 69, "UCS-2", 1, id="70-ucs2-one"),
        pytest.param("ç" * 71, "UCS-2", 2, id="71-ucs2-two"),
        # Worked out by hand: 2 x 67 = 134 units fit two parts, 135 need a third.
        pytest.param("ç" * 134, "UCS-2", 2, id="134-ucs2-two"),
        pytest.param("ç" * 135, "UCS-2", 3, id="135-ucs2-three"),
        # GSM 03.38 has the capital Ç but not "ç": one "ç" makes the whole text UCS-2.
        pytest.param("a" * 69 + "ç", "UCS-2", 1, id="one-non-gsm-char-makes-ucs2"),
        pytest.param("a" * 70 + "ç", "UCS-2", 2, id="71-chars-ucs2-two"),
        # An emoji outside the BMP is two UTF-16 units: 35 fill one SMS, 36 (72 units) need two.
        pytest.param("😀" * 35, "UCS-2", 1, id="35-emoji-one"),
        pytest.param("😀" * 36, "UCS-2", 2, id="36-emoji-two"),
        # 150 + 5 extension characters = 160 septets; one more character is 161.
        pytest.param("a" * 150 + "{}[]~", "GSM-7", 1, id="160-septets-with-extension"),
        pytest.param("a" * 151 + "{}[]~", "GSM-7", 2, id="161-septets-with-extension"),
        pytest.param("", "GSM-7", 1, id="empty-is-one"),
    ],
)
def test_segments_are_counted_like_a_carrier(text: str, encoding: str, segments: int) -> None:
    count = sms_renderer.count_segments(text)
    assert (count.encoding, count.segments) == (encoding, segments)


@pytest.mark.parametrize("language", ["en", "de", "fr", "nl", "es"])
def test_sms_in_any_date_language_stays_gsm7_in_one_segment(language: str) -> None:
    message = render(sample_enriched(), "sms", timezone="Europe/Paris", language=language)
    assert message.meta == {
        "encoding": "GSM-7",
        "segments": 1,
        "units": septets(message.text),
        "vms": 4,
    }
    assert message.text.endswith("https://app.azure.com/h/%3CGUID%3E/bbadb3")


def test_email_subject_puts_the_key_fact_first_and_is_one_line() -> None:
    enriched = sample_enriched(title="Line one\r\nBcc: x@evil.example")
    message = render(enriched, "email")
    assert message.subject.startswith("Azure reboots 4 VMs")
    assert "\r" not in message.subject and "\n" not in message.subject
    test = render(sample_enriched(is_test=True), "email")
    assert test.subject.startswith("[TEST] ")
