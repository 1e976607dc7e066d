"""One thread per notice: a receiver's later messages about a wave follow the first one.

Real parts: the route stage makes the jobs, the delivery stage sends them with the real senders
to the stand-in Slack, SMTP, Teams and webhook servers on 127.0.0.1, and the thread parents
live in Azurite's ``messagerefs`` table.

GIVEN Azure's Planned notice of a wave was delivered to a receiver
WHEN a later notice of the same tracking id (Azure's Rescheduled, or the reminders' event) is
delivered to it
THEN
    | channel | the later message                                                          |
    | slack   | replies under the first message's ts; the first is updated to name it     |
    | email   | In-Reply-To and References name the first email's Message-ID              |
    | teams   | a card whose first line names the first card's title and time             |
    | webhook | notice_type says what it is, wave is the first's, follows names the first  |
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from shared import names
from shared.channels import default_senders
from shared.channels.teams import envelope
from shared.delivery.requeue import ENVELOPE_KIND, job_body
from shared.delivery.stage import DeliveryStage
from shared.models import ChannelName, DeliveryJob, EnrichedEvent, Receiver
from shared.routing.rules import Match, Route, RoutingConfig
from shared.routing.stage import route_event
from shared.standins.enriched_samples import NOW, sample_enriched
from shared.standins.sinks import LocalSinks
from shared.storage import StorageServices
from shared.timeutil import format_utc
from shared.wave.notices import OPERATION_PREFIX
from tests.support.azurite import Azurite
from tests.support.truth_oracle import zones_mixed_in

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sinks() -> Iterator[LocalSinks]:
    with LocalSinks(timeout_seconds=2.0) as running:
        yield running


@pytest.fixture
def fresh(sinks: LocalSinks) -> Iterator[LocalSinks]:
    sinks.reset()
    yield sinks
    sinks.reset()


def config_for(receiver: Receiver) -> RoutingConfig:
    root = Route("root", "/route", Match.from_json(None), None, (receiver.name,))
    return RoutingConfig(receivers={receiver.name: receiver}, root=root)


def deliver(stage: DeliveryStage, enriched: EnrichedEvent, receiver: Receiver) -> DeliveryJob:
    (job,) = route_event(enriched, config_for(receiver), NOW)
    text = json.dumps(
        {"v": 1, "kind": ENVELOPE_KIND, "id": job.job_id, "body": job_body(job, 1)},
        ensure_ascii=False,
    )
    outcome = stage.handle(text)
    assert outcome.action == "delivered", outcome
    return job


def stage_for(
    azurite: Azurite, sinks: LocalSinks, *, senders_at_now: bool = False
) -> DeliveryStage:
    """The stage on NOW's clock; its senders too when asked (the webhook's signature is
    stamped by the senders' clock, which the stand-in checks against its own)."""
    storage = StorageServices.from_settings({names.STORAGE_CONNECTION: azurite.connection_string})
    senders = default_senders(sinks.environ)
    if senders_at_now:
        at_now = default_senders(sinks.environ, clock=lambda: NOW)
        senders = {**at_now, "webhook": senders["webhook"]}
    return DeliveryStage(storage, senders, environ=sinks.environ, clock=lambda: NOW)


def a_wave() -> tuple[EnrichedEvent, EnrichedEvent]:
    """Azure's Planned notice and its Rescheduled notice: one tracking id, two events."""
    wave = f"WAVE-{uuid.uuid4().hex[:8]}"
    first = sample_enriched(tracking_id=wave, event_id=f"sh-{uuid.uuid4().hex}")
    later = sample_enriched(
        tracking_id=wave,
        event_id=f"sh-{uuid.uuid4().hex}",
        stage="Rescheduled",
        title="Maintenance rescheduled for 4 VMs",
    )
    return first, later


def receiver_of(sinks: LocalSinks, channel: ChannelName) -> Receiver:
    return sinks.receiver(channel, name=f"{channel}-{uuid.uuid4().hex[:6]}")


def test_slack_follow_up_replies_in_the_first_messages_thread_and_updates_it(
    azurite: Azurite, fresh: LocalSinks
) -> None:
    stage, receiver = stage_for(azurite, fresh), receiver_of(fresh, "slack")
    first, later = a_wave()
    deliver(stage, first, receiver)
    (original,) = [m for m in fresh.slack.messages if m.thread_ts is None]
    posted_before = len(fresh.slack.messages)

    deliver(stage, later, receiver)

    replies = fresh.slack.messages[posted_before:]
    assert replies, "the follow-up was not posted"
    assert {m.thread_ts for m in replies} == {original.ts}  # every part in the first's thread
    assert fresh.count("slack") == 1  # still one conversation
    (update,) = fresh.slack.updates
    assert update.ts == original.ts and update.channel == original.channel
    # The update keeps what the original said and adds one line about the latest news.
    assert update.blocks[:-1] == original.blocks
    news = str(update.blocks[-1])
    assert "Rescheduled (" in news and "More in the thread" in news


def test_a_third_message_follows_the_first_not_the_second(
    azurite: Azurite, fresh: LocalSinks
) -> None:
    stage, receiver = stage_for(azurite, fresh), receiver_of(fresh, "slack")
    first, later = a_wave()
    reminder = sample_enriched(
        tracking_id=first.event.tracking_id,
        event_id=f"wave-reminder-{uuid.uuid4().hex[:12]}",
        operation_name=f"{OPERATION_PREFIX}reminder",
        title="Reminder: self-service window closes in 24h for 4 VMs",
    )
    for enriched in (first, later, reminder):
        deliver(stage, enriched, receiver)
    original = fresh.slack.messages[0]
    assert fresh.count("slack") == 1
    assert all(m.thread_ts == original.ts for m in fresh.slack.messages[1:])
    assert [u.ts for u in fresh.slack.updates] == [original.ts, original.ts]
    assert "Reminder (" in str(fresh.slack.updates[-1].blocks[-1])


def test_slack_webhook_follow_up_names_the_original(azurite: Azurite, fresh: LocalSinks) -> None:
    stage = stage_for(azurite, fresh, senders_at_now=True)
    receiver = fresh.receiver(
        "slack", name=f"slackhook-{uuid.uuid4().hex[:6]}", options=fresh.slack_webhook_options
    )
    first, later = a_wave()
    deliver(stage, first, receiver)
    before = len(fresh.slack.messages)
    deliver(stage, later, receiver)
    follow_up = fresh.slack.messages[before]
    assert follow_up.text.startswith("Follows “")
    assert "sent Tue 15 Sep 12:00 UTC" in str(follow_up.blocks[0])
    assert fresh.slack.updates == []  # an incoming webhook cannot update


def test_email_follow_up_answers_the_first_message_id(azurite: Azurite, fresh: LocalSinks) -> None:
    stage, receiver = stage_for(azurite, fresh), receiver_of(fresh, "email")
    first, later = a_wave()
    deliver(stage, first, receiver)
    deliver(stage, later, receiver)
    original, follow_up = (mail.message for mail in fresh.smtp.mails)
    assert "In-Reply-To" not in original
    assert follow_up["In-Reply-To"] == original["Message-ID"]
    assert follow_up["References"] == original["Message-ID"]
    assert follow_up["Message-ID"] != original["Message-ID"]


def test_teams_follow_up_card_names_the_original(azurite: Azurite, fresh: LocalSinks) -> None:
    stage = stage_for(azurite, fresh, senders_at_now=True)
    receiver = receiver_of(fresh, "teams")
    first, later = a_wave()
    first_job = deliver(stage, first, receiver)
    later_job = deliver(stage, later, receiver)
    original, follow_up = fresh.teams.cards
    line = follow_up["body"][0]
    assert line["type"] == "TextBlock"
    assert line["text"] == f"Follows “{first_job.message.subject}”, sent Tue 15 Sep 12:00 UTC."
    assert "Follows" not in json.dumps(original["body"][0])
    later_card = envelope(later_job.message.payload or {})["attachments"][0]["content"]
    assert follow_up["body"][1:] == later_card["body"]  # then the later card, whole


def test_webhook_documents_carry_type_wave_and_what_they_follow(
    azurite: Azurite, fresh: LocalSinks
) -> None:
    stage, receiver = stage_for(azurite, fresh), receiver_of(fresh, "webhook")
    first, later = a_wave()
    deliver(stage, first, receiver)
    deliver(stage, later, receiver)
    original, follow_up = (delivery.document for delivery in fresh.webhook.deliveries)
    assert original["notice_type"] == "maintenance.announced"
    assert follow_up["notice_type"] == "maintenance.rescheduled"
    assert original["wave"] == follow_up["wave"] == first.event.tracking_id.lower()
    assert "follows" not in original
    # sent_at: when the first document went out, by the stage's clock
    assert follow_up["follows"] == {"event_id": first.event.event_id, "sent_at": format_utc(NOW)}
    assert follow_up["follows"]["sent_at"].endswith("Z")


def test_another_receiver_and_another_wave_start_their_own_threads(
    azurite: Azurite, fresh: LocalSinks
) -> None:
    stage = stage_for(azurite, fresh)
    first, later = a_wave()
    other_wave, _ = a_wave()
    one, two = receiver_of(fresh, "email"), receiver_of(fresh, "email")
    deliver(stage, first, one)
    deliver(stage, later, two)  # two never got the first: its first message starts its thread
    deliver(stage, other_wave, one)  # another wave: a new conversation for one
    assert all("In-Reply-To" not in mail.message for mail in fresh.smtp.mails)


def test_a_retry_of_the_first_message_does_not_follow_itself(
    azurite: Azurite, fresh: LocalSinks
) -> None:
    stage, receiver = stage_for(azurite, fresh), receiver_of(fresh, "webhook")
    first, _ = a_wave()
    job = deliver(stage, first, receiver)
    # The parent row is this job's own: a second send of it (a replay) is no follow-up.
    again = replace(job, job_id=f"{job.job_id}:again")
    assert stage._threads.parent(again) is None


# One zone per message: a follow-up's line naming the original, and the line Slack adds to the
# original, say when in the receiver's zone as the rest of the message does (NOW is
# 2020-09-15 12:00 UTC; the receivers below read Europe/Paris, CEST in September).
ZONED = [
    # GIVEN a receiver in Europe/Paris on   THEN the line that names the other message reads
    ("teams", None, "Follows “{subject}”, sent Tue 15 Sep 14:00 CEST."),
    ("slack", "webhook", "Follows “{subject}”, sent Tue 15 Sep 14:00 CEST."),
    ("slack", "token", "Rescheduled (Tue 15 Sep 14:00 CEST): "),
]


@pytest.mark.parametrize(
    ("channel", "mode", "says"), ZONED, ids=[" ".join(map(str, z[:2])) for z in ZONED]
)
def test_a_follow_ups_line_about_the_other_message_is_in_the_receivers_zone(
    azurite: Azurite, fresh: LocalSinks, channel: ChannelName, mode: str | None, says: str
) -> None:
    stage = stage_for(azurite, fresh, senders_at_now=True)
    options = fresh.slack_webhook_options if mode == "webhook" else fresh.options[channel]
    receiver = fresh.receiver(
        channel, name=f"{channel}-{uuid.uuid4().hex[:6]}", timezone="Europe/Paris", options=options
    )
    first, later = a_wave()
    first_job = deliver(stage, first, receiver)
    before = len(fresh.slack.messages)
    deliver(stage, later, receiver)
    if channel == "teams":
        said = fresh.teams.cards[-1]["body"][0]["text"]
    elif mode == "webhook":
        said = fresh.slack.messages[before].text.splitlines()[0]
    else:
        (update,) = fresh.slack.updates
        said = update.blocks[-1]["elements"][0]["text"]
    assert said.startswith(says.format(subject=first_job.message.subject)), said
    assert not zones_mixed_in(said, "Europe/Paris")


# The last session's review: Teams' "Follows" line named a notice the catch-up recovered. It is
# the wave's first message to that receiver (the demo's recovered notice opens a wave of its
# own), so every channel follows it: Teams names the message the others thread under.
def test_every_channel_follows_the_same_first_message_a_recovered_one_too(
    azurite: Azurite, fresh: LocalSinks
) -> None:
    stage = stage_for(azurite, fresh, senders_at_now=True)
    first, later = a_wave()
    # GIVEN the wave's first message to each receiver is a notice the catch-up recovered
    recovered = replace(first, event=replace(first.event, recovered=True))
    receivers = {
        channel: receiver_of(fresh, channel) for channel in ("email", "slack", "teams", "webhook")
    }
    firsts = {channel: deliver(stage, recovered, r) for channel, r in receivers.items()}
    slack_first = fresh.slack.messages[0]
    # WHEN a later notice of the wave reaches each of them
    for receiver in receivers.values():
        deliver(stage, later, receiver)
    # THEN each follows the recovered notice, as its channel can
    original, follow_up = (mail.message for mail in fresh.smtp.mails)
    assert follow_up["In-Reply-To"] == original["Message-ID"]
    assert {m.thread_ts for m in fresh.slack.messages[1:] if m.thread_ts} == {slack_first.ts}
    teams_line = fresh.teams.cards[-1]["body"][0]["text"]
    assert teams_line.startswith(f"Follows “{firsts['teams'].message.subject}”")
    documents = [delivery.document for delivery in fresh.webhook.deliveries]
    assert documents[-1]["follows"]["event_id"] == recovered.event.event_id
