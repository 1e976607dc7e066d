"""The Slack details reply, posted to the stand-in Slack on 127.0.0.1 by the real sender.

GIVEN the rendered sample (a short top message and its details in ``payload["thread"]``),
WHEN the Slack sender delivers it with a bot token, THEN the details are a reply in the top
message's thread (``thread_ts`` is the top message's ``ts``); with an incoming webhook (no
``ts``) they follow as a second message; and a reply Slack refuses never fails, nor repeats,
the top message already posted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from shared.channels import default_senders
from shared.models import DeliveryJob, Receiver, RenderedMessage
from shared.render import render_message
from shared.standins.enriched_samples import NOW, sample_enriched
from shared.standins.sinks import LocalSinks
from shared.standins.stand_in import iter_json

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sinks() -> Iterator[LocalSinks]:
    with LocalSinks() as running:
        yield running


@pytest.fixture
def fresh(sinks: LocalSinks) -> Iterator[LocalSinks]:
    sinks.reset()
    yield sinks
    sinks.reset()


def one_channel(sinks: LocalSinks, **options: str) -> Receiver:
    receiver = sinks.receiver("slack")
    return replace(receiver, targets=receiver.targets[:1], options={**receiver.options, **options})


def job(receiver: Receiver, message: RenderedMessage) -> DeliveryJob:
    return DeliveryJob(
        job_id=f"evt-thread:{receiver.name}",
        event_id="evt-thread",
        receiver=receiver,
        message=message,
        created_at="2020-09-15T12:00:00Z",
    )


def rendered(receiver: Receiver) -> RenderedMessage:
    enriched = sample_enriched()
    return render_message(enriched, receiver, enriched.vms, NOW)


def test_details_are_a_reply_in_the_top_messages_thread(fresh: LocalSinks) -> None:
    receiver = one_channel(fresh)
    message = rendered(receiver)
    # WHEN the sender delivers it with the bot token
    result = default_senders(fresh.environ)["slack"].send(job(receiver, message))
    # THEN the top message, then one reply threaded under it
    assert result.delivered, result.reason
    posts = list(iter_json(fresh.slack.requests))
    assert len(posts) == 2
    top, reply = posts
    assert "thread_ts" not in top and top["blocks"] == (message.payload or {})["blocks"]
    assert result.reference == f"{receiver.targets[0]}/{reply['thread_ts']}"
    assert reply["thread_ts"] == fresh.slack.messages[0].ts == fresh.slack.messages[1].thread_ts
    assert fresh.count("slack") == 1  # one message, its details in its thread
    assert "Self-service window" in str(reply["blocks"])


def test_an_incoming_webhook_gets_the_details_as_a_second_message(fresh: LocalSinks) -> None:
    receiver = fresh.receiver("slack", options=fresh.slack_webhook_options)
    result = default_senders(fresh.environ)["slack"].send(job(receiver, rendered(receiver)))
    assert result.delivered, result.reason
    assert [m.mode for m in fresh.slack.messages] == ["webhook", "webhook"]
    assert fresh.slack.messages[0].text.startswith("Azure reboots 4 VMs")
    assert fresh.slack.messages[1].text.startswith("Details: Azure reboots 4 VMs")


def test_a_refused_reply_leaves_the_top_message_delivered_once(fresh: LocalSinks) -> None:
    # GIVEN a reply Slack refuses (no text, no blocks: ``no_text``)
    receiver = one_channel(fresh)
    message = rendered(receiver)
    payload = {**(message.payload or {}), "thread": [{"text": "", "blocks": []}]}
    result = default_senders(fresh.environ)["slack"].send(
        job(receiver, replace(message, payload=payload))
    )
    # THEN the job is delivered (a retry would post the top message again), and says why not
    assert result.delivered
    assert "thread reply not posted" in result.reason and "no_text" in result.reason
    assert len(fresh.slack.messages) == 1
