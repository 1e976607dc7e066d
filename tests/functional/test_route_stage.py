"""The route function as the Functions host calls it, on a real Azurite.

GIVEN an enriched event put on the ``enriched`` queue by the real courier, WHEN the route
function (from ``function_app.app``) gets that queue message, THEN each receiver's job is on
its channel's queue, rendered, with the VMs only its routes gave it; and WHEN one receiver's
message cannot be rendered, THEN the others' jobs are still sent and the stage raises so that
the platform retries the event.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

import function_app
from functions import route
from shared import names
from shared.devhost.catalog import functions_of
from shared.models import DeliveryJob, EnrichedEvent, Receiver, RenderedMessage, VirtualMachine
from shared.render import render_message
from shared.routing.config import load_config
from shared.routing.stage import (
    ReceiversNotRenderedError,
    UnexpectedMessageError,
    handle_enriched_message,
)
from shared.standins.enriched_samples import (
    enriched_with_vms,
    enriched_without_vms,
    sample_enriched,
)
from shared.storage import Envelope, StorageServices, decode_queue_body
from shared.telemetry import METRIC_DELIVERIES, counted
from shared.timeutil import utc_now
from tests.support.azurite import Azurite
from tests.support.wave_setup import others_ahead, take_messages

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"


@pytest.fixture
def services(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[StorageServices]:
    monkeypatch.setenv(names.STORAGE_CONNECTION, azurite.connection_string)
    monkeypatch.setenv(names.SETTING_CONFIG, str(EXAMPLE))
    monkeypatch.setenv(names.SETTING_GROUP_WAIT_SECONDS, "0")  # grouping: test_route_grouping
    route._stage.cache_clear()
    yield StorageServices.from_settings({names.STORAGE_CONNECTION: azurite.connection_string})
    route._stage.cache_clear()


def _client(connection: str, queue: str) -> QueueClient:
    return QueueClient.from_connection_string(connection, queue)


def call_the_function(message: func.QueueMessage) -> None:
    functions_of(function_app.app)[names.FUNCTION_ROUTE].get_user_function()(message)


def deliver_through_the_function(
    services: StorageServices,
    enriched: EnrichedEvent,
    function: Callable[[func.QueueMessage], None] = call_the_function,
) -> None:
    """Send as enrich does, receive as the host does, call the function as the host does."""
    connection = services.courier.queues._endpoints.connection_string  # type: ignore[attr-defined]
    services.courier.send(
        names.QUEUE_ENRICHED,
        Envelope("enriched", enriched.event.event_id, enriched.to_json(), None),
    )
    event_id = enriched.event.event_id
    # Only this test's message, however many others' are ahead of it on the shared queue.
    taken = take_messages(
        connection, names.QUEUE_ENRICHED, lambda text: bool(json.loads(text)["id"] == event_id)
    )
    if taken:
        function(func.QueueMessage(id=event_id, body=taken[0].encode("utf-8")))
        return
    raise AssertionError("the enriched message never arrived")


def jobs_for(services: StorageServices, event_id: str) -> dict[str, DeliveryJob]:
    connection = services.courier.queues._endpoints.connection_string  # type: ignore[attr-defined]
    jobs: dict[str, DeliveryJob] = {}
    for channel, queue_name in names.DELIVERY_QUEUES.items():
        # A queue nobody has written to yet does not exist: nothing to read there.
        received: list[str] = []
        with contextlib.suppress(ResourceNotFoundError):
            received = take_messages(
                connection,
                queue_name,
                lambda text: _job_for(services, text, event_id),
            )
        for text in received:
            envelope = services.courier.open(text)
            job = DeliveryJob.from_json(envelope.body)
            assert envelope.kind == "delivery" and envelope.id == job.job_id
            assert job.receiver.type == channel
            jobs[job.receiver.name] = job
    return jobs


def _job_for(services: StorageServices, text: str, event_id: str) -> bool:
    if json.loads(text).get("kind") != "delivery":
        return False
    return bool(services.courier.open(text).body.get("event_id") == event_id)


def unique(enriched: EnrichedEvent) -> EnrichedEvent:
    return replace(enriched, event=replace(enriched.event, event_id=f"test-{uuid.uuid4().hex}"))


def test_the_route_function_listens_on_the_enriched_queue() -> None:
    binding = json.loads(functions_of(function_app.app)[names.FUNCTION_ROUTE].get_function_json())[
        "bindings"
    ][0]
    assert (binding["type"], binding["queueName"], binding["connection"]) == (
        "queueTrigger",
        names.QUEUE_ENRICHED,
        names.STORAGE_CONNECTION,
    )


CASES = [
    pytest.param(
        lambda: unique(sample_enriched()),
        {
            "platform-email": ["sql-01", "web-01", "web-02", "batch-07"],
            "prod-slack": ["sql-01", "web-01", "web-02"],
            "dba-teams": ["sql-01"],
            "cmdb-webhook": ["sql-01", "web-01", "web-02", "batch-07"],
        },
        id="four-vms-four-receivers",
    ),
    pytest.param(
        lambda: unique(enriched_without_vms()),
        {"cmdb-webhook": [], "cloud-team-slack": []},
        id="service-notice-without-vms",
    ),
]


@pytest.mark.parametrize(("make", "expected"), CASES)
def test_each_receiver_gets_one_job_with_its_vms(
    services: StorageServices,
    make: Callable[[], EnrichedEvent],
    expected: dict[str, list[str]],
) -> None:
    enriched = make()
    deliver_through_the_function(services, enriched)
    jobs = jobs_for(services, enriched.event.event_id)
    assert sorted(jobs) == sorted(expected)
    for name, job in jobs.items():
        assert job.job_id == f"{enriched.event.event_id}:{name}"
        assert job.message.channel == job.receiver.type
        assert job.message.meta["vms"] == len(expected[name])
        assert job.message.meta["routes"], "every job says which routes led to it"
        everything = json.dumps(job.message.to_json(), ensure_ascii=False)
        for vm_name in expected[name]:
            assert vm_name in everything, (name, vm_name)


def test_other_messages_ahead_on_the_queues_do_not_hide_this_tests_own(
    services: StorageServices,
) -> None:
    connection = services.courier.queues._endpoints.connection_string  # type: ignore[attr-defined]
    enriched = unique(sample_enriched())
    # GIVEN more messages ahead on `enriched` and on a delivery queue than one read returns
    with (
        others_ahead(connection, names.QUEUE_ENRICHED, 40),
        others_ahead(connection, names.DELIVERY_QUEUES["email"], 40),
    ):
        # WHEN this test's enriched event goes through the route function
        deliver_through_the_function(services, enriched)
        # THEN its jobs are found behind them
        jobs = jobs_for(services, enriched.event.event_id)
    assert set(jobs) == {"platform-email", "prod-slack", "dba-teams", "cmdb-webhook"}


def test_a_2000_vm_event_travels_by_claim_check_both_ways(services: StorageServices) -> None:
    enriched = unique(enriched_with_vms(2000))
    deliver_through_the_function(services, enriched)
    jobs = jobs_for(services, enriched.event.event_id)
    webhook = jobs["cmdb-webhook"].message.payload or {}
    # The webhook document keeps within the 1 MiB receivers accept and says what it left out.
    assert webhook["vm_count"] == 2000
    assert len(webhook["vms"]) + webhook["vms_omitted"] == 2000
    body = json.dumps(webhook, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(body) <= 1024 * 1024  # as the webhook channel serialises it
    assert jobs["platform-email"].message.meta["vms"] == 2000


def test_a_message_that_is_not_an_enriched_event_raises_for_the_poison_queue(
    services: StorageServices,
) -> None:
    body = json.dumps({"v": 1, "kind": "event", "id": "x", "body": {}}).encode()
    message = func.QueueMessage(id="1", body=body)
    with pytest.raises(UnexpectedMessageError):
        functions_of(function_app.app)[names.FUNCTION_ROUTE].get_user_function()(message)


def render_failing_for(channel: str) -> Callable[..., RenderedMessage]:
    """The real renderers, except that one channel's raises as a renderer bug would."""

    def render(
        enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
    ) -> RenderedMessage:
        if receiver.type == channel:
            raise ZeroDivisionError("a renderer bug met by one odd alert")
        return render_message(enriched, receiver, vms, now)

    return render


def test_a_receiver_that_cannot_be_rendered_does_not_stop_the_others(
    services: StorageServices, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the example routing file, where dba-teams is one of four receivers of this event,
    # and a Teams renderer that raises
    enriched = unique(sample_enriched())
    event_id = enriched.event.event_id
    config = load_config(EXAMPLE)
    failures_before = counted(METRIC_DELIVERIES, channel="teams", outcome="render_failed")

    def route_with_a_failing_teams_renderer(message: func.QueueMessage) -> None:
        text = decode_queue_body(message.get_body())
        handle_enriched_message(
            text, services.courier, config, utc_now(), render=render_failing_for("teams")
        )

    # WHEN the stage handles the event
    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(ReceiversNotRenderedError) as raised,
    ):
        deliver_through_the_function(services, enriched, route_with_a_failing_teams_renderer)

    # THEN the other receivers' jobs are on their queues, rendered with their VMs
    jobs = jobs_for(services, event_id)
    assert sorted(jobs) == ["cmdb-webhook", "platform-email", "prod-slack"]
    assert jobs["prod-slack"].message.meta["vms"] == 3
    # AND the stage raised (for the host to retry, then park in enriched-poison) naming dba-teams
    assert (raised.value.event_id, raised.value.receivers) == (event_id, ["dba-teams"])
    assert isinstance(raised.value.__cause__, ZeroDivisionError)
    # AND the failure was logged with the event id, the receiver and the traceback, and counted
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR and event_id in r.message]
    assert "dba-teams" in record.message and record.exc_info is not None
    failures_after = counted(METRIC_DELIVERIES, channel="teams", outcome="render_failed")
    assert failures_after == failures_before + 1
