"""Quiet hours: GIVEN a receiver's quiet hours and an event, WHEN routed at a moment, THEN the
job is held until the quiet hours end, unless waiting would reach a deadline or it is urgent."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.models import EnrichedEvent, QuietHours, Receiver, RenderedMessage, VirtualMachine
from shared.render import render_message
from shared.routing.quiet_hours import quiet_until
from shared.routing.rules import Match, Route, RoutingConfig
from shared.routing.stage import dispatch, route_event, route_receivers
from shared.standins.enriched_samples import NOW, sample_enriched
from shared.storage import Courier, InMemoryPayloadStore, InMemoryQueuePublisher
from shared.timeutil import format_utc

PHONE = Receiver(
    name="phone",
    type="sms",
    targets=["+15551234567"],
    timezone="Europe/Amsterdam",
    quiet_hours=QuietHours("22:00", "07:00"),
)


@pytest.mark.parametrize(
    ("now", "quiet", "expected"),
    [
        pytest.param(
            datetime(2020, 9, 15, 21, 30, tzinfo=UTC),
            ("22:00", "07:00"),
            datetime(2020, 9, 16, 5, 0, tzinfo=UTC),
            id="night-before-midnight",
        ),
        pytest.param(
            datetime(2020, 9, 16, 3, 0, tzinfo=UTC),
            ("22:00", "07:00"),
            datetime(2020, 9, 16, 5, 0, tzinfo=UTC),
            id="night-after-midnight",
        ),
        pytest.param(
            datetime(2020, 9, 15, 12, 0, tzinfo=UTC), ("22:00", "07:00"), None, id="daytime"
        ),
        pytest.param(
            datetime(2020, 9, 15, 11, 0, tzinfo=UTC),
            ("12:00", "14:00"),
            datetime(2020, 9, 15, 12, 0, tzinfo=UTC),
            id="lunch-same-day",
        ),
        pytest.param(
            datetime(2020, 10, 24, 23, 0, tzinfo=UTC),
            ("22:00", "07:00"),
            datetime(2020, 10, 25, 6, 0, tzinfo=UTC),
            id="dst-ends-overnight",
        ),
    ],
)
def test_quiet_hours_end_in_the_receivers_zone(
    now: datetime, quiet: tuple[str, str], expected: datetime | None
) -> None:
    receiver = replace(PHONE, quiet_hours=QuietHours(*quiet))
    assert quiet_until(receiver, now) == expected


def test_an_unknown_zone_reads_as_utc_for_both_the_hold_and_the_message() -> None:
    # GIVEN a zone this machine does not know (the routing file's check would refuse it, but a
    # receiver built elsewhere can carry one), WHEN routed at 23:00 UTC inside 22:00-07:00
    receiver = replace(PHONE, timezone="Mars/Olympus_Mons")
    now = datetime(2020, 9, 15, 23, 0, tzinfo=UTC)
    (job,) = route_event(sample_enriched(), _config(receiver), now)
    # THEN quiet hours end at 07:00 UTC, and the message tells its times in UTC as well
    assert quiet_until(receiver, now) == datetime(2020, 9, 16, 7, 0, tzinfo=UTC)
    assert job.not_before == "2020-09-16T07:00:00Z"
    assert "00:05 UTC" in job.message.text and "CEST" not in job.message.text


def _config(receiver: Receiver) -> RoutingConfig:
    root = Route("/route", "/route", Match(), None, (receiver.name,))
    return RoutingConfig(receivers={receiver.name: receiver}, root=root)


NIGHT = datetime(2020, 9, 15, 21, 30, tzinfo=UTC)  # 23:30 in Amsterdam


@pytest.mark.parametrize(
    ("enriched", "now", "held_until"),
    [
        pytest.param(sample_enriched(), NIGHT, "2020-09-16T05:00:00Z", id="held-till-morning"),
        pytest.param(sample_enriched(), NOW, None, id="daytime-sent-now"),
        pytest.param(sample_enriched(level="Warning"), NIGHT, None, id="emergency-not-held"),
        pytest.param(
            sample_enriched(),
            datetime(2020, 9, 30, 21, 30, tzinfo=UTC),
            None,
            id="reboot-before-morning-not-held",
        ),
    ],
)
def test_jobs_are_held_through_quiet_hours_unless_it_cannot_wait(
    enriched: EnrichedEvent,
    now: datetime,
    held_until: str | None,
) -> None:
    (job,) = route_event(enriched, _config(PHONE), now)
    assert job.not_before == held_until
    assert job.job_id == f"{enriched.event.event_id}:phone"


def test_a_held_job_is_invisible_on_its_queue_until_then() -> None:
    queues = InMemoryQueuePublisher()
    jobs = route_event(sample_enriched(), _config(PHONE), NIGHT)
    dispatch(jobs, Courier(queues, InMemoryPayloadStore()), NIGHT, traceparent=None)
    assert queues.delays[names.QUEUE_DELIVER_SMS] == [((7 * 60 + 30) * 60)]
    assert len(queues.messages[names.QUEUE_DELIVER_SMS]) == 1


def _planned_at(enriched: EnrichedEvent, first_start: datetime) -> EnrichedEvent:
    """The sample's plan moved so that its first step starts at ``first_start``."""
    assert enriched.plan is not None
    shift = first_start - datetime.fromisoformat(enriched.plan.steps[0].start)
    steps = [
        replace(
            step,
            start=format_utc(datetime.fromisoformat(step.start) + shift),
            end=format_utc(datetime.fromisoformat(step.end) + shift),
        )
        for step in enriched.plan.steps
    ]
    return replace(enriched, plan=replace(enriched.plan, steps=steps, lead_minutes=60))


@pytest.mark.parametrize(
    ("first_step", "replanned"),
    [
        # GIVEN the plan's first step at          WHEN held until 05:00  THEN the plan shown
        (datetime(2020, 9, 15, 23, 0, tzinfo=UTC), True),  # during the night: in the past by then
        (datetime(2020, 9, 16, 5, 30, tzinfo=UTC), True),  # within the lead time of the send
        (datetime(2020, 9, 17, 6, 0, tzinfo=UTC), False),  # still ahead: kept as enriched
    ],
    ids=["step-in-the-night", "step-within-lead", "step-well-ahead"],
)
def test_a_held_message_is_rendered_for_when_it_is_sent(
    first_step: datetime, replanned: bool
) -> None:
    enriched = _planned_at(sample_enriched(), first_step)
    seen: list[tuple[EnrichedEvent, datetime]] = []

    def capture(
        shown: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
    ) -> RenderedMessage:
        seen.append((shown, now))
        return render_message(shown, receiver, vms, now)

    routed = route_receivers(enriched, _config(PHONE), NIGHT, capture)
    (job,) = routed.jobs
    held = datetime(2020, 9, 16, 5, 0, tzinfo=UTC)
    assert job.not_before == format_utc(held)
    ((shown, rendered_at),) = seen
    # Relative times ("in 2 h") are told from when the message is sent, not when it was routed.
    assert rendered_at == held
    assert shown.plan is not None
    starts = [datetime.fromisoformat(step.start) for step in shown.plan.steps]
    # No step starts before the message arrives plus the plan's lead time.
    assert min(starts) >= held + timedelta(minutes=60)
    assert (shown.plan != enriched.plan) is replanned
    assert len(shown.plan.steps) == len(enriched.plan.steps)  # type: ignore[union-attr]
