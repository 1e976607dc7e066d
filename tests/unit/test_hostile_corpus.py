"""Hostile text in every field, through every channel's renderer, on the real enriched sample.

One table of cases (mentions, links, markup, header injection, invisible and bidi characters,
100,000-character fields, a long tracking id) and one table of channel guarantees
(tests/support/hostile.py): every case runs through every channel, and each message must stay
within its channel's limits, carry no invisible character and no markup from the payload.
"""

from __future__ import annotations

import json
from typing import cast

import pytest

from shared.models import ChannelName, EnrichedEvent, Receiver, RenderedMessage
from shared.render import RENDERERS, render_message
from shared.standins.enriched_samples import NOW, sample_enriched
from tests.support.hostile import CHANNEL_LIMITS, hostile_everywhere, strings

CHANNELS = sorted(RENDERERS)
LONG = 100_000

CORPUS = [
    pytest.param("<!channel> <!here> @everyone <@U123>", id="mentions"),
    pytest.param("<http://evil.example|click> [portal](http://evil.example)", id="links"),
    pytest.param("see http://evil.example/x?a=1&b=2 now", id="bare-url"),
    pytest.param("<script>alert(1)</script><b>x</b>", id="html"),
    pytest.param("*bold* _x_ ~x~ `code` ```block```", id="slack-mrkdwn"),
    pytest.param("**urgent** __now__ # Head\n- item\n1. one <at>Everyone</at>", id="markdown"),
    pytest.param("\r\nBcc: victim@evil.example\r\n\r\nbody", id="header-injection-crlf"),
    pytest.param("a\x0bb\x0cc\x85d\u2028e\u2029f\x00g", id="other-line-breaks"),
    pytest.param("\u202eevil\u202c \u2066iso\u2069 \u200e\u200f\u061c", id="bidi"),
    pytest.param("z\u200bw\u200cj\u200dw\u2060b\ufeffs\u00adh\u180em", id="zero-width"),
    pytest.param("\u115f\u1160\u3164\uffa0 filler", id="hangul-fillers"),
    pytest.param("tag\U000e0041\U000e0042\U000e007f", id="unicode-tags"),
    pytest.param("😀 “smart” — ✓ ñ 中文 𝕏", id="ucs2-forcing"),
    pytest.param("x" * LONG, id="100k-ascii"),
    pytest.param("中" * LONG, id="100k-wide"),
    pytest.param("<&>*_~`" * (LONG // 7), id="100k-markup"),
    pytest.param("\u202e" * LONG, id="100k-invisible"),
    pytest.param("word " * (LONG // 5), id="100k-words"),
]


def receiver_for(channel: str) -> Receiver:
    return Receiver(
        name=f"{channel}-receiver",
        type=cast(ChannelName, channel),
        targets=[],
        timezone="America/Los_Angeles",
    )


def render(enriched: EnrichedEvent, channel: str) -> RenderedMessage:
    return render_message(enriched, receiver_for(channel), enriched.vms, NOW)


def _texts(message: RenderedMessage) -> list[str]:
    return [message.subject, message.text, message.html or "", *strings(message.payload)]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hostile", CORPUS)
@pytest.mark.parametrize("channel", CHANNELS)
def test_hostile_text_everywhere_stays_within_the_channel(channel: str, hostile: str) -> None:
    # GIVEN the real sample with the hostile text in every field
    enriched = hostile_everywhere(hostile)
    # WHEN it is rendered for the channel
    message = render(enriched, channel)
    # THEN the channel's limits and escaping hold
    CHANNEL_LIMITS[channel](message)
    # AND the message still names the VMs (hostile text is neutralised, not the whole message)
    if channel in ("slack", "teams", "email"):
        assert "web-01" in json.dumps(message.to_json(), ensure_ascii=False)


@pytest.mark.parametrize(
    ("markup", "shown_as"),
    [
        pytest.param("*bold*", "∗bold∗", id="bold"),
        pytest.param(" _x_ ", " ˍxˍ ", id="italic"),
        pytest.param("~x~", "∼x∼", id="strike"),
        pytest.param("`code`", "ˋcodeˋ", id="code"),
    ],
)
def test_slack_formatting_from_the_payload_is_shown_not_applied(markup: str, shown_as: str) -> None:
    # GIVEN a notice title with Slack mrkdwn in it
    enriched = sample_enriched(title=f"Maintenance {markup} now")
    # WHEN rendered for Slack
    message = render(enriched, "slack")
    texts = strings((message.payload or {})["blocks"])
    # THEN the markers are replaced by look-alikes that Slack does not format
    assert not any(markup.strip() in text for text in texts)
    assert any(shown_as.strip() in text for text in texts)


def test_underscores_inside_names_stay_copyable_on_slack() -> None:
    # GIVEN VMs whose resource groups have underscores inside words (AKS node groups do),
    # and a title with one at a word's start
    enriched = hostile_everywhere({"resource_group": "_MC_rg_aks_eastus", "title": " _x"})
    shown = json.dumps(render(enriched, "slack").payload, ensure_ascii=False)
    # THEN the inside underscores are kept; only the one at the word's start is neutralised
    assert "rg-web-prod_MC_rg_aks_eastus" in shown
    assert "Maintenance ˍx" in shown and "Maintenance _x" not in shown


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_test_notification_says_so_on_every_channel(channel: str) -> None:
    # GIVEN an Action Group test notification
    message = render(sample_enriched(is_test=True), channel)
    # THEN the first thing the recipient sees says TEST
    payload = message.payload or {}
    first = {
        "email": lambda: message.subject,
        "sms": lambda: message.text,
        "slack": lambda: payload["blocks"][0]["text"]["text"],
        "teams": lambda: payload["attachments"][0]["content"]["body"][0]["text"],
        "webhook": lambda: payload["headline"],
        "pagerduty": lambda: payload["events"][0]["payload"]["summary"],
    }[channel]()
    assert "TEST" in first[:120], first[:200]
    # AND a real notification does not
    real = render(sample_enriched(), channel)
    assert "[TEST]" not in json.dumps(real.to_json(), ensure_ascii=False)


def test_the_email_plan_line_prints_clean_quoted_vm_ids() -> None:
    # GIVEN a self-service VM whose name carries a bidi override and a zero-width space
    enriched = hostile_everywhere({"vm_name": "\u202ex\u200b y"})
    message = render(enriched, "email")
    # THEN the plan's start command shows the id without them, quoted for the shell
    html = message.html or ""
    assert "forewarn start-maintenance &#39;/subscriptions/" in html  # autoescaped quote
    assert "virtualMachines/sql-01x y&#39;</code>" in html
