"""Property tests: any text in any field, every renderer finishes and fits its channel.

Fields get arbitrary Unicode (controls, format characters, astral planes) or long repeats of
it, up to 100,000 characters. Examples are bounded so that the file runs in well under a
minute; ``deadline=None`` because a 100k-character example is slow by design, not a bug.
"""

from __future__ import annotations

from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.models import ChannelName, Receiver, RenderedMessage
from shared.render import RENDERERS, render_message
from shared.standins.enriched_samples import NOW
from tests.support.hostile import CHANNEL_LIMITS, FIELDS, hostile_everywhere

CHANNELS = sorted(RENDERERS)
LONGEST = 100_000

_short = st.text(max_size=40)
_long = st.builds(
    lambda seed, length: (seed * (length // len(seed) + 1))[:length],
    st.text(min_size=1, max_size=12),
    st.integers(min_value=200, max_value=LONGEST),
)
texts = st.one_of(_short, _short, _long)
field_texts = st.fixed_dictionaries(dict.fromkeys(FIELDS, texts))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("channel", CHANNELS)
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(fields=field_texts)
def test_any_text_in_any_field_renders_within_the_channel_limits(
    channel: str, fields: dict[str, str]
) -> None:
    # GIVEN the real sample with arbitrary text in every field
    enriched = hostile_everywhere(fields)
    receiver = Receiver(
        name="r", type=cast(ChannelName, channel), targets=[], timezone="Europe/Berlin"
    )
    # WHEN it is rendered, THEN rendering returns and the message fits the channel
    CHANNEL_LIMITS[channel](render_message(enriched, receiver, enriched.vms, NOW))


@pytest.mark.timeout(120)
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(fields=field_texts)
def test_any_text_in_any_field_keeps_the_slack_reply_within_slacks_limits(
    fields: dict[str, str],
) -> None:
    # GIVEN the real sample with arbitrary text in every field
    enriched = hostile_everywhere(fields)
    receiver = Receiver(name="r", type="slack", targets=[], timezone="Europe/Berlin")
    message = render_message(enriched, receiver, enriched.vms, NOW)
    # THEN the details reply (posted in the thread) holds to the same guarantees as the top
    replies = (message.payload or {})["thread"]
    assert replies
    for reply in replies:
        CHANNEL_LIMITS["slack"](
            RenderedMessage("slack", message.subject, reply["text"], payload=reply)
        )
