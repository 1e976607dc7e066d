"""Hostile text in every field a message can show, and what each channel must still guarantee.

``hostile_everywhere`` takes the real enriched sample (shared/standins/enriched_samples.py) and
puts untrusted text in every field that alert or Azure text reaches: the notice's title,
communication, tracking id, stage, level, services and regions; each VM's name, resource group,
region, zone, availability and scale set, tags, advice reasons and last operation; enrichment
notes and plan warnings. ``CHANNEL_LIMITS`` is the one table of per-channel guarantees that the
corpus test and the property tests both run (one harness for every channel, as Apprise does).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from shared.models import (
    Advice,
    EnrichedEvent,
    EnrichmentNote,
    ImpactedService,
    MaintenancePlan,
    RenderedMessage,
)
from shared.render import email as email_renderer
from shared.render import pagerduty as pagerduty_renderer
from shared.render import slack as slack_renderer
from shared.render import sms as sms_renderer
from shared.render import teams as teams_renderer
from shared.render import webhook as webhook_renderer
from shared.standins.enriched_samples import sample_enriched, vm_id

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SCHEMA = json.loads((ROOT / "docs" / "webhook-payload.schema.json").read_text("utf-8"))

# Every field a hostile text can be put in; the property tests draw one text per field.
FIELDS = (
    "title",
    "summary",
    "tracking_id",
    "stage",
    "level",
    "service",
    "region",
    "vm_name",
    "resource_group",
    "location",
    "zone",
    "availability_set",
    "scale_set",
    "tag",
    "reason",
    "last_result_code",
    "last_message",
    "note",
    "plan_warning",
)


def hostile_everywhere(texts: Mapping[str, str] | str) -> EnrichedEvent:
    """The real sample with ``texts[field]`` (or the one text) added to every field."""
    text: Callable[[str], str] = (
        (lambda _field: texts) if isinstance(texts, str) else (lambda field: texts.get(field, ""))
    )
    base = sample_enriched(
        title=f"Maintenance {text('title')}",
        summary=f"Details: {text('summary')}\nEnd.",
        tracking_id=f"AB{text('tracking_id')}",
        stage=f"Planned{text('stage')}",
        level=f"Informational{text('level')}",
        impacted=[
            ImpactedService(
                service=f"Virtual Machines {text('service')}",
                regions=[f"East US {text('region')}"],
            )
        ],
    )
    new_ids: dict[str, str] = {}
    vms = []
    for vm in base.vms:
        name, group = f"{vm.name}{text('vm_name')}", f"{vm.resource_group}{text('resource_group')}"
        status = vm.maintenance
        if status is not None:
            status = replace(
                status,
                last_result_code=f"RetryLater{text('last_result_code')}",
                last_message=f"Could not start {text('last_message')}",
            )
        changed = replace(
            vm,
            id=vm_id(vm.subscription_id, group, name),
            name=name,
            resource_group=group,
            location=f"{vm.location}{text('location')}",
            zone=f"2{text('zone')}",
            availability_set=f"as-web{text('availability_set')}",
            scale_set=f"vmss{text('scale_set')}" if text("scale_set") else None,
            tags={**vm.tags, "note": text("tag"), f"k{text('tag')}": "v"},
            advice=Advice(vm.advice.action, [f"{r} {text('reason')}" for r in vm.advice.reasons]),
            maintenance=status,
        )
        new_ids[vm.id] = changed.id
        vms.append(changed)
    plan = base.plan
    if plan is not None:
        steps = [replace(s, vm_ids=[new_ids[i] for i in s.vm_ids]) for s in plan.steps]
        plan = MaintenancePlan(steps, plan.gap_minutes, [f"Window short {text('plan_warning')}"])
    notes = [EnrichmentNote(code="vm_gone", message=f"VM went away {text('note')}")]
    return replace(base, vms=vms, plan=plan, notes=notes)


# --------------------------------------------------------------------------------------
# What no channel may carry, and each channel's limits


def is_invisible(char: str) -> bool:
    """Characters that hide, reorder or fake text: controls, format characters, fillers."""
    if char in "\n\t":
        return False
    return unicodedata.category(char) in ("Cc", "Cf", "Cs") or char in "\u115f\u1160\u3164\uffa0"


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


def _no_invisible(texts: list[str]) -> None:
    for text in texts:
        found = [f"U+{ord(char):04X}" for char in text if is_invisible(char)]
        assert not found, (found[:5], text[:120])


MENTION = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
# Slack mrkdwn that payload text must not be able to make: bold, italic, strike, code.
SLACK_FORMATTING = re.compile(r"\*[^*\s]|_[^_\s]+_|~[^~\s]|`")


def check_slack(message: RenderedMessage) -> None:
    limits = slack_renderer.LIMITS
    blocks = (message.payload or {})["blocks"]
    assert len(blocks) <= limits.max_blocks
    total = 0
    for block in blocks:
        text = block.get("text", {}).get("text", "")
        if block["type"] == "header":
            assert len(text) <= limits.header_chars
        if block["type"] == "section":
            assert len(text) <= limits.section_chars
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["url"]) <= limits.button_url_chars
                assert len(element["text"]["text"]) <= limits.button_text_chars
            elif isinstance(element.get("text"), str):
                total += len(element["text"])
        total += len(text)
    assert total <= 12_000, total
    assert len(message.text) <= limits.fallback_chars
    texts = [message.text, *strings(blocks)]
    _no_invisible(texts)
    for text in texts:
        if text.startswith("https://"):
            continue  # the portal button's target (percent-encoded), not text
        # We write no angle bracket ourselves: any "<" would be someone's link or mention.
        assert "<" not in text and ">" not in text, text[:200]
        assert not MENTION.search(text), text[:200]


def check_teams(message: RenderedMessage) -> None:
    size = len(json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode())
    assert size <= teams_renderer.LIMITS.budget_bytes < teams_renderer.LIMITS.max_bytes, size
    texts = strings(message.payload)
    _no_invisible(texts)
    for text in texts:
        if text.startswith("https://"):
            continue
        assert not re.search(r"(?<!\\)[<\[]", text), text[:200]  # no tags, no [link](...)


def check_email(message: RenderedMessage) -> None:
    limits = email_renderer.LIMITS
    subject = message.subject
    assert subject and len(subject) <= limits.subject_chars, subject
    assert not any(char in subject for char in "\r\n\x0b\x0c\x85\u2028\u2029"), subject
    _no_invisible([subject, message.text, message.html or ""])
    assert len((message.html or "").encode()) <= limits.html_budget_bytes
    assert len(message.text.encode()) <= limits.text_budget_bytes
    assert max(len(line) for line in message.text.splitlines()) <= 998
    for danger in ("<script", "<!channel>", "<http://evil", "<at>"):
        assert danger not in (message.html or ""), danger
    if message.calendar:
        check_calendar(message)


_CONTENT_LINE = re.compile(rb"^[A-Z][A-Z0-9-]*[;:]")


def check_calendar(message: RenderedMessage) -> None:
    """The email's .ics: the bytes ``icalendar`` writes (tests/support/ics_library.py), every
    content line a property (nothing injected), read back whole by ``icalendar`` and
    ``vobject`` alike."""
    import vobject
    from icalendar import Calendar

    from shared.render.calendar import MaintenanceCalendar, to_ics
    from tests.support.ics_library import library_ics

    calendar = MaintenanceCalendar.from_json(message.calendar or {})
    ics = to_ics(calendar, "forewarn@example.com")
    assert ics == library_ics(calendar, "forewarn@example.com")
    lines = ics.replace(b"\r\n ", b"").split(b"\r\n")
    assert lines[-1] == b"" and all(_CONTENT_LINE.match(line) for line in lines[:-1]), ics
    summaries = [entry.summary for entry in calendar.entries]
    read = [str(event["SUMMARY"]) for event in Calendar.from_ical(ics).walk("VEVENT")]
    assert read == summaries
    assert [event.summary.value for event in vobject.readOne(ics.decode()).vevent_list] == read
    _no_invisible(summaries + [entry.description for entry in calendar.entries])


def check_sms(message: RenderedMessage) -> None:
    text = message.text
    # GSM-7's own letters (ñ, Ä, Ω...) may stay; anything else would switch it to UCS-2.
    gsm7 = sms_renderer.GSM7_BASIC | sms_renderer.GSM7_EXTENSION
    assert all(char in gsm7 for char in text) and "\r" not in text and "`" not in text, text
    assert message.meta["encoding"] == "GSM-7"
    units = len(text) + sum(text.count(char) for char in "^{}\\[~]|€")
    assert units <= sms_renderer.LIMITS.gsm7_part * sms_renderer.LIMITS.max_segments, units
    assert message.meta["segments"] <= sms_renderer.LIMITS.max_segments


def check_webhook(message: RenderedMessage) -> None:
    Draft202012Validator(WEBHOOK_SCHEMA).validate(message.payload)
    body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(body) <= webhook_renderer.LIMITS.budget_bytes
    assert message.meta["bytes"] == len(body)  # counted by the renderer, not serialised
    document = message.payload or {}
    assert len(document["vms"]) + document["vms_omitted"] == document["vm_count"]


def check_pagerduty(message: RenderedMessage) -> None:
    """PagerDuty's documented limits per event, and plain one-line text (no markup is read
    there, so none is escaped; invisible and line-break characters are cleaned)."""
    limits = pagerduty_renderer.LIMITS
    events = (message.payload or {})["events"]
    assert events
    for event in events:
        assert event["event_action"] in ("trigger", "resolve")
        assert 0 < len(event["dedup_key"]) <= limits.dedup_key_chars
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        assert len(body) <= limits.payload_bytes, len(body)
        if event["event_action"] == "resolve":
            continue
        payload = event["payload"]
        assert payload["severity"] in ("critical", "error", "warning", "info")
        for field in ("summary", "source"):
            text = payload[field]
            assert 0 < len(text) <= limits.summary_chars, (field, len(text))
            assert not any(char in text for char in "\r\n\x0b\x0c\x85\u2028\u2029"), text[:120]
        _no_invisible(strings(payload))


CHANNEL_LIMITS: dict[str, Callable[[RenderedMessage], None]] = {
    "pagerduty": check_pagerduty,
    "email": check_email,
    "slack": check_slack,
    "sms": check_sms,
    "teams": check_teams,
    "webhook": check_webhook,
}
