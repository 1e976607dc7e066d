"""Claims and snoozes (shared/wave/claims.py), as tables: on the same wave as
test_wave_reminders.py (self-service closes 2030-03-31 09:00, scheduled opens 5 min later),
its VM web-1 in rg-web."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.render import render_message
from shared.routing.config import parse_config
from shared.routing.grouping import group_event
from shared.routing.stage import route_receivers
from shared.storage import InMemoryEntityTable
from shared.timeutil import format_utc
from shared.wave.actions import ClaimLinks, verify
from shared.wave.claims import ClaimInputError, ClaimNotFoundError, ClaimStore, Ownership
from shared.wave.notices import notice_events
from shared.wave.reminders import ReminderOffsets, due_reminders, reminder_notice
from tests.unit.test_renderers import receiver_for
from tests.unit.test_wave_reminders import CLOSES, H, record

NOW = datetime(2030, 3, 27, 9, tzinfo=UTC)  # 96 h before the self-service window closes
VM = record().vm_id
WAVE = "BC_1-FXZ"


def snoozed(until: datetime) -> dict[str, datetime]:
    return {VM.lower(): until}


SNOOZE_CASES = [
    # GIVEN snooze until           WHEN now            THEN due self-service labels
    ("no snooze", None, CLOSES - 71 * H, ["self_service-72h"]),
    ("snoozed past now: held", CLOSES - 48 * H, CLOSES - 71 * H, []),
    ("snooze over: the held one goes", CLOSES - 48 * H, CLOSES - 47 * H, ["self_service-72h"]),
    ("snoozed past the last reminder: held before it", CLOSES - 1 * H, CLOSES - 25 * H, []),
    (
        "snoozed past the last reminder: it goes on time",
        CLOSES - 1 * H,
        CLOSES - 24 * H,
        ["self_service-24h"],
    ),
    (
        "snoozed beyond the deadline: still on time",
        CLOSES + 72 * H,
        CLOSES - 23 * H,
        ["self_service-24h"],
    ),
]


@pytest.mark.parametrize(
    ("until", "now", "labels"), [c[1:] for c in SNOOZE_CASES], ids=[c[0] for c in SNOOZE_CASES]
)
def test_snooze_moves_the_next_reminder_never_past_the_last(
    until: datetime | None, now: datetime, labels: list[str]
) -> None:
    found = due_reminders(
        [record()], now, ReminderOffsets(), snoozed(until) if until is not None else None
    )
    assert sorted(r.label for r in found if r.label.startswith("self_service")) == labels


def test_store_claims_unclaims_and_keeps_a_snooze() -> None:
    store = ClaimStore(InMemoryEntityTable())
    store.snooze(VM, NOW + 24 * H)
    store.claim_vm(VM, "  Alice  ", "ops-email", NOW)
    store.claim_wave(WAVE, "Bob", "dba-hook", NOW)
    found = store.ownership()
    # A VM's own claim outranks its wave's.
    assert found.owners_of(VM.upper(), WAVE) == {"ops-email": "Alice"}
    assert found.owners_of(VM.replace("web-1", "web-2"), WAVE.lower()) == {"dba-hook": "Bob"}
    assert found.snoozed_until(VM) == NOW + 24 * H
    assert store.unclaim_vm(VM).by == "Alice"
    assert store.ownership().owners_of(VM, WAVE) == {"dba-hook": "Bob"}
    assert store.ownership().snoozed_until(VM) == NOW + 24 * H
    with pytest.raises(ClaimNotFoundError):
        store.unclaim_vm(VM)
    assert [c.by for c in store.unclaim_wave(WAVE.lower(), None)] == ["Bob"]
    with pytest.raises(ClaimNotFoundError):
        store.unclaim_wave(WAVE, None)


@pytest.mark.parametrize(
    ("vm_id", "by"),
    [("web-1", "Alice"), (VM, "   "), (VM, "x" * 81)],
    ids=["name", "blank", "long"],
)
def test_store_refuses_what_it_cannot_keep(vm_id: str, by: str) -> None:
    with pytest.raises(ClaimInputError):
        ClaimStore(InMemoryEntityTable()).claim_vm(vm_id, by, None, NOW)


ROUTING = """\
version: 1
receivers:
  - {name: ops-email, type: email, targets: [ops@example.com]}
  - {name: dba-hook, type: email, targets: [dba@example.com]}
route:
  receivers: [ops-email, dba-hook]
"""

ROUTE_CASES = [
    # GIVEN owners (receiver -> person)      THEN the reminder reaches
    ("unclaimed", {}, ["ops-email", "dba-hook"]),
    ("claimed for ops-email", {"ops-email": "Alice"}, ["ops-email"]),
    ("claimed without a receiver", {"": "Alice"}, ["ops-email", "dba-hook"]),
    ("claimed for a receiver it does not reach", {"pager": "Alice"}, ["ops-email", "dba-hook"]),
    (
        "wave claimed by both",
        {"ops-email": "Alice", "dba-hook": "Bob"},
        ["ops-email", "dba-hook"],
    ),
]


@pytest.mark.parametrize(
    ("owners", "reached"), [c[1:] for c in ROUTE_CASES], ids=[c[0] for c in ROUTE_CASES]
)
def test_a_claimed_vms_reminder_reaches_the_owners_receiver_only(
    owners: dict[str, str], reached: list[str]
) -> None:
    now = CLOSES - 23 * H
    config = parse_config(ROUTING)
    [reminder, *_] = due_reminders([record()], now, ReminderOffsets())
    notice = reminder_notice(reminder, reminder.record)
    notice = replace(notice, vm=replace(notice.vm, owners=owners))
    [(enriched, _)] = notice_events([notice], now)
    assert [g.receiver.name for g in group_event(enriched, config, now)] == reached


def test_ownership_of_nothing_is_empty() -> None:
    assert Ownership().owners_of(VM, WAVE) == {}
    assert format_utc(NOW + timedelta(0)) == "2030-03-27T09:00:00Z"


LINKED_ROUTING = """\
version: 1
receivers:
  - {name: ops-email, type: email, targets: [ops@example.com]}
  - name: dba-hook
    type: webhook
    targets: ["https://db.example.com/hook"]
    options: {secret_setting: FOREWARN_WEBHOOK_SIGNING_SECRET}
route:
  receivers: [ops-email, dba-hook]
"""
LINK_KEY = "link-key-for-unit-tests"

LINK_CASES = [
    # GIVEN the settings                                          THEN a claim link per receiver
    (
        "both set",
        {"FOREWARN_PUBLIC_URL": "https://fw.example.com", "FOREWARN_ACTION_LINK_KEY": LINK_KEY},
        True,
    ),
    ("no public URL", {"FOREWARN_ACTION_LINK_KEY": LINK_KEY}, False),
    (
        "key too short",
        {"FOREWARN_PUBLIC_URL": "https://fw.example.com", "FOREWARN_ACTION_LINK_KEY": "short"},
        False,
    ),
]


@pytest.mark.parametrize(
    ("environ", "linked"), [c[1:] for c in LINK_CASES], ids=[c[0] for c in LINK_CASES]
)
def test_each_receiver_gets_its_own_claim_link_where_links_are_configured(
    environ: dict[str, str], linked: bool
) -> None:
    now = CLOSES - 23 * H
    [reminder, *_] = due_reminders([record()], now, ReminderOffsets())
    [(enriched, _)] = notice_events([reminder_notice(reminder, reminder.record)], now)
    links = ClaimLinks.from_settings(environ)
    routed = route_receivers(enriched, parse_config(LINKED_ROUTING), now, links=links)
    by_receiver = {job.receiver.name: job.message for job in routed.jobs}
    assert sorted(by_receiver) == ["dba-hook", "ops-email"]
    email_urls = re.findall(
        r"https://fw\.example\.com/api/actions/[\w.-]+", by_receiver["ops-email"].text
    )
    [vm_document] = (by_receiver["dba-hook"].payload or {})["vms"]
    if not linked:
        assert email_urls == []
        assert vm_document["claim_url"] is None
        return
    # THEN the email's VM line and the webhook's document each carry a link for their receiver
    for receiver, url in (("ops-email", email_urls[0]), ("dba-hook", vm_document["claim_url"])):
        token = url.rsplit("/", 1)[1]
        link = verify(token, LINK_KEY, now)
        assert (link.action, link.subject, link.receiver) == ("claim", VM, receiver)


@pytest.mark.parametrize("channel", ["email", "slack", "teams", "sms", "webhook"])
def test_a_reminder_about_a_claimed_vm_says_who_has_it_on_every_channel(channel: str) -> None:
    # GIVEN web-1 claimed by Alice, WHEN its 24 h reminder is rendered for each channel
    now = CLOSES - 23 * H
    [reminder, *_] = due_reminders([record()], now, ReminderOffsets())
    store = ClaimStore(InMemoryEntityTable())
    store.claim_vm(VM, "Alice", f"{channel}-receiver", now)
    [notice] = [
        replace(n, vm=replace(n.vm, owners=store.ownership().owners_of(VM, WAVE)))
        for n in [reminder_notice(reminder, reminder.record)]
    ]
    [(enriched, _)] = notice_events([notice], now)
    message = render_message(enriched, receiver_for(channel), enriched.vms, now)
    # THEN it says so, in the text every channel has (and the webhook as data)
    if channel == "webhook":
        [vm] = (message.payload or {})["vms"]
        assert vm["claimed_by"] == {"webhook-receiver": "Alice"}
    else:
        shown = message.text if channel in ("email", "sms") else json.dumps(message.payload)
        assert "claimed by Alice" in shown


def test_the_route_stage_says_who_has_a_vm_in_azures_own_notices_too() -> None:
    # GIVEN web-1's wave claimed by Bob for ops-email, and an event that says nothing of it
    now = CLOSES - 23 * H
    [reminder, *_] = due_reminders([record()], now, ReminderOffsets())
    [(enriched, _)] = notice_events([reminder_notice(reminder, reminder.record)], now)
    store = ClaimStore(InMemoryEntityTable())
    store.claim_wave(WAVE, "Bob", "ops-email", now)
    # WHEN routed with the claims in force
    routed = route_receivers(enriched, parse_config(ROUTING), now, ownership=store.ownership())
    # THEN only the owner's receiver is reminded, and its message names Bob
    assert [(job.receiver.name, "claimed by Bob" in job.message.text) for job in routed.jobs] == [
        ("ops-email", True)
    ]


OTHER = VM.replace("/web-1", "/web-2")  # a VM forewarn holds no record of
LATER = NOW + timedelta(days=61)  # past UNRECORDED_TTL for claims made at NOW
PRUNE_CASES = [
    # GIVEN web-1's record, WHEN pruned at  THEN web-1's claim, its snooze, the wave's, web-2's
    ("open, all in force", "pending", NOW, ("Alice", True, True, True)),
    ("done: everything of it ends", "completed", NOW, ("", False, False, True)),
    ("deleted: everything of it ends", "gone", NOW, ("", False, False, True)),
    ("open, snooze over", "pending", NOW + 30 * H, ("Alice", False, True, True)),
    ("open, 61 days on: only the unrecorded claim ends", "pending", LATER,
     ("Alice", False, True, False)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "when", "kept"), [c[1:] for c in PRUNE_CASES], ids=[c[0] for c in PRUNE_CASES]
)
def test_prune_ends_what_no_longer_holds(
    status: str, when: datetime, kept: tuple[str, bool, bool, bool]
) -> None:
    store = ClaimStore(InMemoryEntityTable())
    store.claim_vm(VM, "Alice", "ops-email", NOW)
    store.snooze(VM, NOW + 24 * H)
    store.claim_wave(WAVE, "Bob", "ops-email", NOW)
    store.claim_vm(OTHER, "Carol", "ops-email", NOW)
    store.prune([record(status=status)], when)
    found = store.ownership()
    claim = found.vm_claims.get(VM.lower())
    assert (
        claim.by if claim else "",
        VM.lower() in found.snoozes,
        WAVE.lower() in found.wave_claims,
        OTHER.lower() in found.vm_claims,
    ) == kept


def test_prune_leaves_no_empty_rows_and_keeps_a_wave_with_one_open_vm() -> None:
    table = InMemoryEntityTable()
    store = ClaimStore(table)
    store.claim_vm(VM, "Alice", "ops-email", NOW)
    store.claim_wave(WAVE, "Bob", "ops-email", NOW)
    still_open = replace(record(), vm_id=OTHER)
    pruned = store.prune([record(status="completed"), still_open], NOW)
    assert (pruned.vm_claims, pruned.wave_claims, pruned.snoozes) == (1, 0, 0)
    assert [row["PartitionKey"] for row in table.query()] == ["wave"]
    assert store.prune([record(status="completed"), still_open], NOW).vm_claims == 0


def test_unsnooze_ends_the_snooze_and_keeps_the_claim() -> None:
    store = ClaimStore(InMemoryEntityTable())
    assert store.unsnooze(VM) is None
    store.claim_vm(VM, "Alice", "ops-email", NOW)
    store.snooze(VM, NOW + 24 * H)
    assert store.unsnooze(VM) == NOW + 24 * H
    assert store.ownership().snoozes == {}
    assert store.ownership().owners_of(VM, None) == {"ops-email": "Alice"}
    store.unclaim_vm(VM)
    store.snooze(VM, NOW + 24 * H)
    store.unsnooze(VM)
    assert store.claims() == [] and store.ownership().snoozes == {}


def test_a_summary_names_where_a_vm_lives_when_another_of_the_event_has_its_name() -> None:
    """bench wave's truth oracle: one reminder event about two vm-053s (two subscriptions)
    said "vm-053: claimed by owner-117" to both teams; each team took it for its own."""
    from shared.wave.notices import Notice, notice_events

    first = record()
    other = replace(
        first.vm,
        id=first.vm.id.replace(first.vm.subscription_id, "99999999-0000-0000-0000-000000000000"),
        subscription_id="99999999-0000-0000-0000-000000000000",
    )
    notices = [
        Notice(
            "reminder",
            vm,
            WAVE,
            "reminder:self_service-24h:x",
            "2030-03-31T09:00:00Z",
            f"claimed by {who}",
        )
        for vm, who in ((first.vm, "Alice"), (other, "Bob"))
    ]
    [(enriched, _)] = notice_events(notices, NOW)
    lines = enriched.event.summary.splitlines()[1:]
    sub = first.vm.subscription_id[:8]
    assert lines == [
        f"web-1 (rg-web, subscription {sub}): claimed by Alice",
        "web-1 (rg-web, subscription 99999999): claimed by Bob",
    ]
    [(alone, _)] = notice_events(notices[:1], NOW)
    assert alone.event.summary.splitlines()[1:] == ["web-1: claimed by Alice"]


RELEASE_CASES = [
    # GIVEN on the VM                  WHEN its maintenance begins a new wave   THEN
    #                                  claims ended, owners, snooze kept
    ("claimed", True, False, 1, {}, None),
    ("claimed and snoozed", True, True, 1, {}, NOW + 24 * H),
    ("snoozed only", False, True, 0, {}, NOW + 24 * H),
    ("nothing", False, False, 0, {}, None),
]


@pytest.mark.parametrize(
    ("claimed", "snooze", "ended", "owners", "until"),
    [case[1:] for case in RELEASE_CASES],
    ids=[case[0] for case in RELEASE_CASES],
)
def test_a_new_wave_ends_the_vms_claim_and_keeps_its_snooze(
    claimed: bool, snooze: bool, ended: int, owners: dict[str, str], until: datetime | None
) -> None:
    store = ClaimStore(InMemoryEntityTable())
    if claimed:
        store.claim_vm(VM, "Alice", "team-a", NOW)
    if snooze:
        store.snooze(VM, NOW + 24 * H)
    assert store.release([VM.upper()]) == ended  # Azure writes ids in either case
    found = store.ownership()
    assert found.owners_of(VM, "NEXT-WAVE") == owners
    assert found.snoozed_until(VM) == until
