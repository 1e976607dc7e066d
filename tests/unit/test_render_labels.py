"""Every kind and stage of event says what it is, on every channel; only maintenance instructs.

GIVEN real Microsoft samples (the Action Group's Service Health test is an ``Incident`` at stage
``Resolved``; the Resource Health test is "Rebooted by user", made platform-initiated as the
rule forwards it) and the maintenance sample at each stage, WHEN rendered for every channel,
THEN the headline names the kind and stage, a test says ``[TEST]`` first, and maintenance
instructions (plan, advice, commands, "start it yourself") appear only for maintenance.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from shared.models import ChannelName, EnrichedEvent, MaintenanceEvent, Receiver, RenderedMessage
from shared.parsing.normalise import parse_alert
from shared.render import RENDERERS, render_message
from shared.render.labels import label_of
from shared.standins.enriched_samples import NOW, make_vm, sample_enriched, sample_event
from tests.conftest import load_fixture

CHANNELS = sorted(RENDERERS)
RECEIVED = datetime(2021, 11, 17, 6, 0, tzinfo=UTC)
# Words only a maintenance message may carry.
INSTRUCTIONS = ("perform-maintenance", "start-maintenance", "Start yourself", "Plan")


def _platform_initiated(payload: Any) -> Any:
    payload["data"]["alertContext"]["properties"]["cause"] = "PlatformInitiated"
    return payload


def service_health_test() -> MaintenanceEvent:
    return parse_alert(load_fixture("common-servicehealth-incident-testaction-2021.json"), RECEIVED)


def resource_health_test() -> MaintenanceEvent:
    payload = _platform_initiated(load_fixture("common-resourcehealth-testaction-2021.json"))
    return parse_alert(payload, RECEIVED)


def with_event(event: MaintenanceEvent) -> EnrichedEvent:
    """The sample's VMs, advice and plan under another event: what enrichment would pass on."""
    return replace(sample_enriched(), event=event)


def render(enriched: EnrichedEvent, channel: str) -> RenderedMessage:
    receiver = Receiver(
        name="r", type=cast(ChannelName, channel), targets=[], timezone="Europe/Berlin"
    )
    return render_message(enriched, receiver, enriched.vms, NOW)


def everything(message: RenderedMessage) -> str:
    return json.dumps(message.to_json(), ensure_ascii=False)


def first_words(message: RenderedMessage) -> str:
    """What the recipient sees first on each channel."""
    payload = message.payload or {}
    return {
        "email": lambda: message.subject,
        "sms": lambda: message.text,
        "slack": lambda: payload["blocks"][0]["text"]["text"],
        "teams": lambda: payload["attachments"][0]["content"]["body"][0]["text"],
        "webhook": lambda: payload["headline"],
        # The first alert's summary; a message that only resolves alerts shows its headline.
        "pagerduty": lambda: next(
            (e["payload"]["summary"] for e in payload["events"] if "payload" in e),
            message.subject,
        ),
    }[message.channel]()


# GIVEN an event, THEN its label, and the headline each channel starts with.
LABELS = [
    pytest.param(
        service_health_test,
        "Service issue · Resolved",
        "[TEST] Service issue resolved: Test Action Group - Test Service Health Alert",
        id="service-health-test-incident-resolved",
    ),
    pytest.param(
        resource_health_test,
        "Resource Health · Active",
        "[TEST] Resource Health: sql-01, web-01, web-02, batch-07: Rebooted by user",
        id="resource-health-test",
    ),
    pytest.param(
        lambda: sample_event(incident_type="Security", stage="Active"),
        "Security advisory · Active",
        "Security advisory: Azure Synapse Analytics Scheduled Maintenance Pending",
        id="security-active",
    ),
    pytest.param(
        lambda: sample_event(incident_type="Informational", stage="Active"),
        "Health advisory · Active",
        "Health advisory: Azure Synapse Analytics",
        id="health-advisory",
    ),
    pytest.param(
        lambda: sample_event(incident_type="ActionRequired", stage="Active"),
        "Action required · Active",
        "Action required: Azure Synapse Analytics",
        id="action-required",
    ),
    pytest.param(
        lambda: sample_event(incident_type="Incident", stage="RCA"),
        "Service issue · Root cause analysis",
        "Service issue root cause analysis: Azure Synapse Analytics",
        id="incident-rca",
    ),
]


@pytest.mark.parametrize(("event", "label", "starts"), LABELS)
@pytest.mark.parametrize("channel", CHANNELS)
def test_other_kinds_say_what_they_are_and_carry_no_maintenance_instructions(
    channel: str, event: Any, label: str, starts: str
) -> None:
    # GIVEN an event that is not a maintenance, with the sample's VMs and plan beside it
    given = event()
    assert label_of(given).text == label
    # WHEN rendered
    message = render(with_event(given), channel)
    # THEN the first words say what it is (and [TEST] for a test), not "maintenance"
    first = first_words(message)
    assert first.replace("\\", "").startswith(starts[:60]), first[:200]
    assert "aintenance of" not in first and "Azure reboots" not in first
    # AND no maintenance instruction is given (the webhook carries data, not instructions)
    if channel != "webhook":
        shown = everything(message)
        for word in INSTRUCTIONS:
            assert word not in shown, (word, channel)


# GIVEN the maintenance sample at a stage, THEN its label, the headline, and the SMS's first
# words (an SMS leads with what to do, so it opens with the stage's own word).
MAINTENANCE_STAGES = [
    pytest.param(
        "Planned",
        "Planned maintenance · Planned",
        "Azure reboots 4 VMs",
        "Start sql-01 yourself by",
        id="planned",
    ),
    pytest.param(
        "Active",
        "Planned maintenance · Active",
        "Azure reboots 4 VMs",
        "Start sql-01 yourself by",
        id="active",
    ),
    pytest.param(
        "InProgress",
        "Planned maintenance · In progress",
        "In progress: Azure reboots",
        "In progress: Start sql-01",
        id="in-progress",
    ),
    pytest.param(
        "Rescheduled",
        "Planned maintenance · Rescheduled",
        "Rescheduled: Azure reboots",
        "Rescheduled: Start sql-01",
        id="rescheduled",
    ),
    pytest.param(
        "Canceled",
        "Planned maintenance · Canceled",
        "Canceled: maintenance of 4",
        "Canceled: ",
        id="canceled",
    ),
    pytest.param(
        "Resolved",
        "Planned maintenance · Resolved",
        "Completed: maintenance of",
        "Completed: ",
        id="resolved",
    ),
    pytest.param(
        "Complete",
        "Planned maintenance · Completed",
        "Completed: maintenance of",
        "Completed: ",
        id="complete",
    ),
]


@pytest.mark.parametrize(("stage", "label", "starts", "sms_starts"), MAINTENANCE_STAGES)
@pytest.mark.parametrize("channel", CHANNELS)
def test_each_maintenance_stage_says_which_it_is(
    channel: str, stage: str, label: str, starts: str, sms_starts: str
) -> None:
    given = sample_event(stage=stage)
    assert label_of(given).text == label
    message = render(with_event(given), channel)
    # An SMS and a PagerDuty alert (one per VM) lead with what to do about their VM.
    expected = sms_starts if channel in ("sms", "pagerduty") else starts
    assert first_words(message).startswith(expected), first_words(message)[:200]
    if stage in ("Canceled", "Resolved", "Complete") and channel != "webhook":
        # THEN nobody is asked to act on a maintenance that is over or called off
        assert "yourself by" not in everything(message)


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_action_group_test_is_marked_test_first_on_every_channel(channel: str) -> None:
    message = render(with_event(service_health_test()), channel)
    first = first_words(message).replace("\\", "")  # Teams escapes the brackets
    assert first.startswith("[TEST] "), first[:120]


def test_resource_health_names_the_vm_it_is_about() -> None:
    # GIVEN the Resource Health event enriched with the VM it names
    event = resource_health_test()
    vm = make_vm("test-VM", "test-RG", maintenance=None)
    enriched = EnrichedEvent(event, [vm], None, [], "2021-11-17T06:00:00Z")
    # THEN the message names it and says Resource Health, on the rich channels
    for channel in ("email", "slack", "teams"):
        shown = everything(render(enriched, channel))
        assert "test-VM" in shown and "Resource Health" in shown, channel


# The wave timers' notices read as stage Planned (so that ``stages:`` rules take them), but
# "Planned maintenance · Planned" above an escalation says it is one more announcement.
WAVE_LABELS = [
    # GIVEN the wave timer's operation     THEN the label at the top of the message
    ("forewarn/wave/escalation", "Planned", "Planned maintenance · Escalated"),
    ("forewarn/wave/escalation_resolved", "Planned", "Planned maintenance · Escalation resolved"),
    ("forewarn/wave/reminder/self_service-24h", "Planned", "Planned maintenance · Reminder"),
    ("forewarn/wave/vm_added", "Planned", "Planned maintenance · Planned"),
    ("forewarn/wave/completed", "Complete", "Planned maintenance · Follow-up"),
    (None, "Planned", "Planned maintenance · Planned"),
]


@pytest.mark.parametrize(("operation", "stage", "label"), WAVE_LABELS)
def test_a_wave_notice_is_labelled_as_what_it_is(
    operation: str | None, stage: str, label: str
) -> None:
    given = replace(sample_event(stage=stage), operation_name=operation)
    assert label_of(given).text == label
    assert label_of(given).is_maintenance
