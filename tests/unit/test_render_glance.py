"""Messages a person can act on in ten seconds (issue 10, "Glanceable"), on every channel.

GIVEN the real sample event and VMs, advised and planned by the real advice and planner (so
reasons carry codes and sources, and the availability set is a resource id as ARM gives it),
WHEN rendered for each channel, THEN the message leads with what to do and by when, groups the
VMs by action one line each, keeps details after (Slack: a thread reply; Teams: a Details card),
names the source once, gives one command per VM and a pasteable command per plan step.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
from jsonschema import Draft202012Validator

from shared.enrich.advice import AdviceRules, VmFacts, advise
from shared.enrich.guidance import GUIDANCE_URL
from shared.enrich.plan import plan_maintenance
from shared.models import ChannelName, EnrichedEvent, Receiver, RenderedMessage
from shared.render import render_message
from shared.render import sms as sms_renderer
from shared.standins.enriched_samples import (
    NOW,
    SUBSCRIPTION,
    enriched_with_vms,
    sample_enriched,
    sample_vms,
)
from tests.support.hostile import CHANNEL_LIMITS, WEBHOOK_SCHEMA, hostile_everywhere

LEAD = "Start 1 VM yourself by Tue 29 Sep 17:00 PDT"
WEBHOOK_DOC = Path(__file__).resolve().parents[2] / "docs" / "webhook.md"
AS_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-web-prod/providers/"
    "Microsoft.Compute/availabilitySets/as-web"
)


def advised_enriched() -> EnrichedEvent:
    """The sample through the real advice and planner: batch-07 has an auto-shutdown."""
    vms = []
    for vm in sample_vms():
        if vm.availability_set:
            vm = replace(vm, availability_set=AS_ID)
        facts = VmFacts(auto_shutdown=vm.name == "batch-07")
        vms.append(replace(vm, advice=advise(vm, facts, AdviceRules(), NOW)))
    return replace(sample_enriched(), vms=vms, plan=plan_maintenance(vms, NOW))


def render(enriched: EnrichedEvent, channel: str) -> RenderedMessage:
    receiver = Receiver(
        name="r",
        type=cast(ChannelName, channel),
        targets=[],
        timezone="America/Los_Angeles",
    )
    return render_message(enriched, receiver, enriched.vms, NOW)


def slack_texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def reading_order(message: RenderedMessage) -> str:
    """The message's text in the order a person reads it (Slack: top, then the reply)."""
    payload = message.payload or {}
    if message.channel == "email":
        return " ".join(message.text.split())  # unwrapped: a phrase may span two lines
    if message.channel == "slack":
        replies = [reply["blocks"] for reply in payload.get("thread", [])]
        return slack_texts(payload["blocks"]) + "".join(slack_texts(r) for r in replies)
    return json.dumps(payload, ensure_ascii=False).replace("\\", "")


# --------------------------------------------------------------------------------------
# Lead with what to do and by when; tracking id near the top; VMs grouped by action


@pytest.mark.parametrize("channel", ["email", "slack", "teams"])
def test_the_lead_comes_before_every_detail(channel: str) -> None:
    shown = reading_order(render(advised_enriched(), channel))
    lead = shown.find(LEAD)
    # THEN the lead says what to do, by when, and when Azure does it otherwise
    assert lead >= 0, shown[:500]
    assert "or Azure reboots it between Wed 30 Sep 17:05 PDT and Thu 1 Oct 17:00 PDT" in shown
    # AND it comes before the tracking id, the groups, and every window or reason
    order = [
        LEAD,
        "Tracking ID",
        "Start yourself (1)",
        "Let Azure do it (2)",
        "Don't start yourself (1)",
        "Self-service window",
        "Azure's scheduled window",
    ]
    positions = [shown.find(text) for text in order]
    assert all(p >= 0 for p in positions), dict(zip(order, positions, strict=True))
    assert positions == sorted(positions), dict(zip(order, positions, strict=True))


@pytest.mark.parametrize("channel", ["email", "slack", "teams"])
def test_each_vm_has_one_line_under_its_action(channel: str) -> None:
    shown = reading_order(render(advised_enriched(), channel))
    for line in (
        "sql-01 (rg-data-prod) · start by Tue 29 Sep 17:00 PDT",
        "web-01 (rg-web-prod) · Azure from Thu 1 Oct 17:05 PDT",
        "web-02 (rg-web-prod) · Azure from Thu 1 Oct 19:05 PDT",
        "batch-07 (rg-batch-dev) · Azure from Sun 4 Oct 17:05 PDT",
    ):
        assert shown.count(line) == 1, (channel, line)


def test_many_vms_are_counted_not_listed_on_the_slack_and_teams_face() -> None:
    enriched = enriched_with_vms(60)
    slack = render(enriched, "slack").payload or {}
    top = slack_texts(slack["blocks"])
    assert re.search(r"and \d+ more \(see the reply\)", top)
    assert "Self-service window" not in top  # the top message stays short
    teams = (render(enriched, "teams").payload or {})["attachments"][0]["content"]
    face = json.dumps(teams["body"])
    assert re.search(r"and \d+ more \(see Details\)", face)
    assert "Self-service window" not in face


# --------------------------------------------------------------------------------------
# Details: where they are, and how they read


def test_slack_details_are_a_reply_and_the_top_message_is_compact() -> None:
    message = render(advised_enriched(), "slack")
    payload = message.payload or {}
    top = slack_texts(payload["blocks"])
    (reply,) = payload["thread"]
    details = slack_texts(reply["blocks"])
    assert len(payload["blocks"]) <= 6
    for detail in ("Self-service window", "az vm perform-maintenance", "Good to know"):
        assert detail not in top and detail in details, detail
    assert "Open in Azure portal" in top  # the link is one tap away on the top message


def test_teams_details_are_behind_a_show_card() -> None:
    card = (render(advised_enriched(), "teams").payload or {})["attachments"][0]["content"]
    (show,) = [action for action in card["actions"] if action["type"] == "Action.ShowCard"]
    assert show["title"] == "Details"
    face, details = json.dumps(card["body"]), json.dumps(show["card"])
    for detail in ("Self-service window", "az vm perform-maintenance", "Good to know"):
        assert detail not in face and detail in details, detail


@pytest.mark.parametrize(
    "enriched",
    [
        pytest.param(lambda: hostile_everywhere("<!channel> *x* `y` @here"), id="markup"),
        pytest.param(
            lambda: hostile_everywhere("\u202e" * 3000 + "x" * 20_000), id="long-invisible"
        ),
        pytest.param(lambda: enriched_with_vms(2000), id="2000-vms"),
    ],
)
def test_the_slack_reply_keeps_the_channel_guarantees(enriched: Any) -> None:
    message = render(enriched(), "slack")
    for reply in (message.payload or {})["thread"]:
        CHANNEL_LIMITS["slack"](
            RenderedMessage("slack", message.subject, reply["text"], payload=reply)
        )


@pytest.mark.parametrize("channel", ["email", "slack", "teams"])
def test_the_source_is_named_once_and_sets_by_name(channel: str) -> None:
    shown = reading_order(render(advised_enriched(), channel))
    # GIVEN reasons and facts that each end "(source: …)" (four VMs, eight of them)
    assert "(source:" not in shown
    assert shown.count(GUIDANCE_URL) == 1
    # AND the availability set, which ARM gives as a resource id, is shown by its name
    assert "availability set as-web" in shown and "availabilitySets/" not in shown


@pytest.mark.parametrize("channel", ["email", "slack", "teams"])
def test_one_command_per_vm_saying_which_and_a_pasteable_one_per_step(channel: str) -> None:
    shown = reading_order(render(advised_enriched(), channel))
    # THEN the VM that may start gets one command, labelled, and its plan step the same line
    # beside the forewarn one (issue 16, finding 8); no per-VM forewarn command
    assert shown.count("az vm perform-maintenance") == 2
    assert "Start it (Azure CLI)" in shown
    assert "forewarn start-maintenance VM_ID" not in shown and "RESOURCE_GROUP" not in shown
    # AND the plan step says what its VMs share and carries its own command
    assert "zone 2" in shown
    step = "forewarn start-maintenance /subscriptions/" + SUBSCRIPTION
    assert shown.count(step) == 1
    assert "no UD" not in shown and "update domain at a time, 60 min" not in shown


@pytest.mark.parametrize("channel", ["email", "slack", "teams"])
def test_the_notice_window_is_labelled_and_dropped_beside_vm_windows(channel: str) -> None:
    with_vms = reading_order(render(advised_enriched(), channel))
    assert "Event window" not in with_vms and "Impact window" not in with_vms
    without = replace(sample_enriched(), vms=[], plan=None)
    shown = reading_order(render_message_without_vms(without, channel))
    assert "Event window" not in shown
    assert "Impact window (from the notice)" in shown


def render_message_without_vms(enriched: EnrichedEvent, channel: str) -> RenderedMessage:
    receiver = Receiver(name="r", type=cast(ChannelName, channel), targets=[])
    return render_message(enriched, receiver, [], NOW)


# --------------------------------------------------------------------------------------
# SMS: the deadline, how many VMs need a person, the link


SMS_CASES = [
    pytest.param(
        advised_enriched,
        "Start sql-01 yourself by Tue 29 Sep 17:00 PDT or Azure reboots it from Wed 30 Sep "
        "17:05 PDT. 3 more: Azure does them. https://app.azure.com/h/%3CGUID%3E/bbadb3",
        1,
        id="one-to-start-by-name",
    ),
    pytest.param(
        lambda: enriched_with_vms(2000),
        "Start 667 VMs yourself by Wed 30 Sep 17:00 PDT or Azure reboots them from Thu 1 Oct "
        "17:05 PDT. https://app.azure.com/h/%3CGUID%3E/bbadb3",
        1,
        id="2000-vms",
    ),
    pytest.param(
        lambda: sample_enriched(is_test=True),
        "[TEST] Start sql-01 yourself by Tue 29 Sep 17:00 PDT or Azure reboots it from Wed 30 "
        "Sep 17:05 PDT. https://app.azure.com/h/%3CGUID%3E/bbadb3",
        1,
        id="test-notice-drops-the-count-of-others-first",
    ),
]


@pytest.mark.parametrize(("enriched", "expected", "segments"), SMS_CASES)
def test_sms_says_the_deadline_the_count_and_the_link(
    enriched: Any, expected: str, segments: int
) -> None:
    message = render(enriched(), "sms")
    assert message.text == expected
    assert message.meta["encoding"] == "GSM-7"
    assert message.meta["segments"] == segments == sms_renderer.count_segments(expected).segments


# --------------------------------------------------------------------------------------
# Webhook: summary, a code beside every reason, actions only where a start is offered


def test_webhook_summary_codes_and_actions() -> None:
    document = render(advised_enriched(), "webhook").payload or {}
    Draft202012Validator(WEBHOOK_SCHEMA).validate(document)
    assert document["version"] == "2"
    summary = document["summary"]
    assert summary["text"].startswith(LEAD)
    assert summary["self_service_by"] == "2020-09-30T00:00:00Z"
    assert summary["azure_from"] == "2020-10-01T00:05:00Z"
    assert summary["vms_by_action"] == {
        "start_yourself": 1,
        "let_azure": 2,
        "dont_self_serve": 1,
        "no_action": 0,
    }
    by_name = {vm["name"]: vm for vm in document["vms"]}
    codes = {name: [r["code"] for r in vm["advice"]["reasons"]] for name, vm in by_name.items()}
    assert codes == {
        "sql-01": ["single_vm", "counter_indications_unknown"],
        "web-01": ["in_availability_set"],
        "web-02": ["in_availability_set"],
        "batch-07": ["shut_down_often"],
    }
    # THEN a start is offered where it is advised (sql-01) or allowed and not advised against
    # (the availability set, which Azure allows now); never against the advice (batch-07)
    offered = {name for name, vm in by_name.items() if vm["actions"] is not None}
    assert offered == {"sql-01", "web-01", "web-02"}
    assert {fact["code"] for fact in document["facts"]} >= {"reboot_duration"}
    (step,) = document["plan"]["steps"]
    assert step["label"] == "zone 2" and step["command"].startswith("forewarn start-maintenance")


def test_webhook_offers_no_action_for_other_kinds() -> None:
    enriched = replace(advised_enriched(), event=sample_enriched(incident_type="Incident").event)
    document = render(enriched, "webhook").payload or {}
    Draft202012Validator(WEBHOOK_SCHEMA).validate(document)
    assert all(vm["actions"] is None for vm in document["vms"])
    assert document["plan"] is None and document["summary"]["is_maintenance"] is False


def test_the_documented_example_is_a_valid_document() -> None:
    # GIVEN the example in docs/webhook.md, THEN the schema accepts it (docs and schema agree)
    text = (WEBHOOK_DOC).read_text(encoding="utf-8")
    example = json.loads(text.split("```json", 1)[1].split("```", 1)[0])
    Draft202012Validator(WEBHOOK_SCHEMA).validate(example)
    assert example["version"] == render(advised_enriched(), "webhook").payload["version"]


@pytest.mark.parametrize("channel", ["email", "slack", "teams"])
def test_a_long_reason_is_shown_whole_with_what_to_tag(channel: str) -> None:
    # GIVEN sql-01, advised "start it yourself" on the condition of what forewarn cannot see
    shown = reading_order(render(advised_enriched(), channel))
    # THEN the condition is shown to its end: how to tell forewarn
    assert "tag forewarn-advice to tell forewarn" in shown


def test_a_step_of_one_standalone_vm_does_not_name_it_twice() -> None:
    # GIVEN a standalone VM outside any zone: the planner gives it a step of its own
    enriched = advised_enriched()
    vms = [replace(vm, zone=None) if vm.name == "sql-01" else vm for vm in enriched.vms]
    enriched = replace(enriched, vms=vms, plan=plan_maintenance(vms, NOW))
    text = " ".join(render(enriched, "email").text.split())
    assert ", on its own: sql-01" in text and "VM sql-01" not in text
