"""The grouping interval: a wave notified per subscription reaches a receiver as one message.

Real parts: the group rows live in Azurite's ``eventgroups`` table and the gathered notices in
its payload container; queue messages are kept in memory so that each one's visibility delay
can be read.

GIVEN the sample wave's Planned notice arrives once per subscription (Action Groups fire once
per subscription), a few seconds apart, and the grouping interval is 60 s
    | at     | what comes                   | routed now                       |
    | 0 s    | subscription A's notice      | nothing; a group message, +60 s  |
    | 5 s    | subscription B's notice      | nothing                          |
    | 60 s   | the group message            | one job per receiver, 4 VMs      |
    | 90 s   | subscription C's notice      | C's own job (it follows, threads)|
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from shared import names
from shared.models import EnrichedEvent, Receiver
from shared.routing.gather import ENVELOPE_KIND_GROUP, EventGatherer, group_wait_from
from shared.routing.rules import Match, Route, RoutingConfig
from shared.routing.stage import handle_enriched_message
from shared.standins.enriched_samples import NOW, sample_enriched
from shared.storage import Envelope, InMemoryQueuePublisher, StorageServices
from shared.wave.notices import OPERATION_PREFIX
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

SUB_A, SUB_B, SUB_C = (f"{digit * 8}-0000-4000-8000-{digit * 12}" for digit in "abc")
WAIT = timedelta(seconds=60)
RECEIVERS = (
    Receiver(name="ops-webhook", type="webhook", targets=["https://hooks.example.com/m"]),
    Receiver(name="ops-email", type="email", targets=["ops@example.com"]),
)
CONFIG = RoutingConfig(
    receivers={receiver.name: receiver for receiver in RECEIVERS},
    root=Route("root", "/route", Match.from_json(None), None, tuple(r.name for r in RECEIVERS)),
)


@pytest.fixture
def services(azurite: Azurite) -> StorageServices:
    real = StorageServices.from_settings({names.STORAGE_CONNECTION: azurite.connection_string})
    return StorageServices(InMemoryQueuePublisher(), real.payloads, real.table)


def queues(services: StorageServices) -> InMemoryQueuePublisher:
    assert isinstance(services.queues, InMemoryQueuePublisher)
    return services.queues


def per_subscription(wave: str) -> list[EnrichedEvent]:
    """The sample wave as three Action Groups send it: one notice per subscription, each
    naming its own subscription's VMs (2, 2 and 0 of the sample's four)."""
    whole = sample_enriched(tracking_id=wave)
    shares = (whole.vms[:2], whole.vms[2:], [])
    return [
        replace(
            whole,
            event=replace(whole.event, event_id=f"sh-{uuid.uuid4().hex}", subscription_ids=[sub]),
            vms=vms,
        )
        for sub, vms in zip((SUB_A, SUB_B, SUB_C), shares, strict=True)
    ]


def text_of(services: StorageServices, enriched: EnrichedEvent) -> str:
    services.courier.send(
        "scratch", Envelope("enriched", enriched.event.event_id, enriched.to_json(), None)
    )
    return queues(services).messages["scratch"].popleft()


def group_messages(services: StorageServices) -> list[tuple[str, int]]:
    published = queues(services)
    texts = list(published.messages[names.QUEUE_ENRICHED])
    delays = published.delays[names.QUEUE_ENRICHED]
    return [(text, delay) for text, delay in zip(texts, delays, strict=True)]


def route(services: StorageServices, text: str, at: timedelta, wait: timedelta = WAIT) -> list:
    gatherer = EventGatherer(services.table(names.TABLE_EVENT_GROUPS), services.payloads, wait)
    return handle_enriched_message(text, services.courier, CONFIG, NOW + at, gatherer=gatherer)


def test_a_waves_notices_per_subscription_reach_each_receiver_as_one_message(
    services: StorageServices,
) -> None:
    a, b, c = per_subscription(f"WAVE-{uuid.uuid4().hex[:8]}")
    # 0 s: A opens the group; nothing is routed, a group message waits 60 s
    assert route(services, text_of(services, a), timedelta(0)) == []
    ((flush, delay),) = group_messages(services)
    assert delay == 60
    assert json.loads(flush)["kind"] == ENVELOPE_KIND_GROUP
    # 5 s: B joins it
    assert route(services, text_of(services, b), timedelta(seconds=5)) == []
    assert len(group_messages(services)) == 1
    # 60 s: the group message routes both as one event per receiver, listing all 4 VMs
    jobs = route(services, flush, WAIT)
    assert sorted(job.receiver.name for job in jobs) == sorted(r.name for r in RECEIVERS)
    (event_id,) = {job.event_id for job in jobs}
    assert event_id.startswith("group-")
    assert all(job.message.meta["vms"] == 4 for job in jobs)
    webhook = next(job for job in jobs if job.receiver.type == "webhook")
    document = webhook.message.payload or {}
    assert document["event"]["subscription_ids"] == [SUB_A, SUB_B]
    assert {vm["name"] for vm in document["vms"]} == {vm.name for vm in a.vms + b.vms}
    assert webhook.message.meta["wave"] == a.event.tracking_id.lower()
    # 90 s: C, too late for the group, is routed on its own (delivery threads it)
    late = route(services, text_of(services, c), timedelta(seconds=90))
    assert {job.event_id for job in late} == {c.event.event_id}
    # The group message delivered again routes the same event (delivery drops the repeat)
    again = route(services, flush, timedelta(seconds=95))
    assert {job.event_id for job in again} == {event_id}
    assert all(job.message.meta["vms"] == 4 for job in again)


def test_a_group_of_one_routes_the_notice_as_it_came(services: StorageServices) -> None:
    a, _, _ = per_subscription(f"WAVE-{uuid.uuid4().hex[:8]}")
    route(services, text_of(services, a), timedelta(0))
    ((flush, _),) = group_messages(services)
    jobs = route(services, flush, WAIT)
    assert {job.event_id for job in jobs} == {a.event.event_id}


def test_a_redelivered_first_notice_sends_the_group_message_again(
    services: StorageServices,
) -> None:
    # The first try may have died after writing the row but before sending the message.
    a, _, _ = per_subscription(f"WAVE-{uuid.uuid4().hex[:8]}")
    text = text_of(services, a)
    route(services, text, timedelta(0))
    route(services, text, timedelta(seconds=20))
    (first, first_delay), (second, second_delay) = group_messages(services)
    assert json.loads(first)["id"] == json.loads(second)["id"]
    assert (first_delay, second_delay) == (60, 40)  # both come when the group is due


@pytest.mark.parametrize(
    ("why", "change", "wait"),
    [
        ("interval 0 turns grouping off", {}, timedelta(0)),
        ("no tracking id, no wave", {"tracking_id": None}, WAIT),
        ("not a maintenance", {"incident_type": "Incident"}, WAIT),
        (
            "a wave timer's event lists the wave already",
            {"operation_name": OPERATION_PREFIX + "reminder"},
            WAIT,
        ),
    ],
)
def test_what_is_routed_at_once(
    services: StorageServices, why: str, change: dict[str, object], wait: timedelta
) -> None:
    a, _, _ = per_subscription(f"WAVE-{uuid.uuid4().hex[:8]}")
    a = replace(a, event=replace(a.event, **change))  # type: ignore[arg-type]
    jobs = route(services, text_of(services, a), timedelta(0), wait)
    assert {job.event_id for job in jobs} == {a.event.event_id}, why
    assert group_messages(services) == []


@pytest.mark.parametrize(
    ("setting", "expected"),
    [(None, 60), ("", 60), ("0", 0), ("15", 15), ("3600", 3600), ("3601", 60), ("1m", 60)],
)
def test_the_interval_setting(setting: str | None, expected: int) -> None:
    environ = {} if setting is None else {names.SETTING_GROUP_WAIT_SECONDS: setting}
    assert group_wait_from(environ) == timedelta(seconds=expected)
