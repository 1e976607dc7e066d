"""Start links in messages: offered per plan step, only when Start from the message is on,
only for VMs advised to start themselves, and naming exactly the step the message shows.

GIVEN the sample wave (sql-01 advised to start itself, three VMs not) routed to one receiver
WHEN  the route stage renders it with the settings below
THEN  each channel shows (or not) the step's "Start now" link, and the link says this wave,
      this receiver, "step 1" and sql-01 only.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared import names
from shared.routing.config import parse_config
from shared.routing.stage import route_receivers
from shared.standins.enriched_samples import NOW, sample_enriched
from shared.wave.actions import MAX_START_VMS, StartLinks, verify

KEY = "start-links-unit-test-key"
ON = {
    names.SETTING_PUBLIC_URL: "https://forewarn.example",
    names.SETTING_ACTION_LINK_KEY: KEY,
    names.SETTING_ENABLE_START_FROM_MESSAGE: "true",
}
ROUTING = """version: 1
receivers:
  - name: mail
    type: email
    targets: [a@example.com]
    options: {from: f@example.com, smtp_host: h}
  - {name: chat, type: slack, targets: [C1], options: {token_setting: SLACK_TOKEN}}
  - {name: room, type: teams, options: {webhook_url_setting: TEAMS_URL}}
  - {name: hook, type: webhook, targets: ["https://h.example/x"], options: {secret_setting: S}}
route: {receivers: [mail, chat, room, hook]}
"""


def _texts(message: Any) -> str:
    return "\n".join([message.text or "", json.dumps(message.payload or {})])


def _links(text: str) -> list[str]:
    found = []
    for part in text.replace('"', " ").replace("\\n", " ").split():
        if "/api/actions/" in part:
            found.append(part.rsplit("/api/actions/", 1)[1].rstrip(">|)."))
    return found


@pytest.mark.parametrize(
    ("settings", "offered"),
    [
        pytest.param(ON, True, id="on"),
        pytest.param({**ON, names.SETTING_ENABLE_START_FROM_MESSAGE: ""}, False, id="off"),
        pytest.param({**ON, names.SETTING_PUBLIC_URL: ""}, False, id="no-public-url"),
    ],
)
def test_each_channel_offers_the_steps_start_link_only_when_turned_on(
    settings: dict[str, str], offered: bool
) -> None:
    links = StartLinks.from_settings(settings)
    assert (links is not None) == offered
    enriched = sample_enriched()
    routed = route_receivers(enriched, parse_config(ROUTING), NOW, start_links=links)
    for job in routed.jobs:
        tokens = _links(_texts(job.message))
        if not offered:
            assert tokens == [], job.receiver.name
            continue
        assert tokens, job.receiver.name
        for token in tokens:
            link = verify(token, KEY, NOW)
            assert link.action == "start"
            assert link.subject == "step 1"
            assert link.receiver == job.receiver.name
            assert link.wave == enriched.event.tracking_id
            assert [vm.rsplit("/", 1)[-1] for vm in link.vms] == ["sql-01"]


def test_a_step_of_more_vms_than_a_link_may_name_gets_no_link() -> None:
    links = StartLinks.from_settings(ON)
    assert links is not None
    ids = [
        f"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v{i}"
        for i in range(MAX_START_VMS + 1)
    ]
    assert links.url("WAVE", "step 1", ids, "mail", NOW) is None
    assert links.url("WAVE", "step 1", ids[:MAX_START_VMS], "mail", NOW) is not None
    assert links.url("", "step 1", ids[:1], "mail", NOW) is None


def test_a_start_token_with_no_wave_or_too_many_vms_does_not_verify() -> None:
    from shared.wave.actions import ActionLink, ActionLinkMalformedError, sign

    for wave, count in (("", 1), ("W", 0), ("W", MAX_START_VMS + 1)):
        link = ActionLink("start", "step 1", "mail", 2_000_000_000, wave, ("vm",) * count)
        with pytest.raises(ActionLinkMalformedError):
            verify(sign(link, KEY), KEY, NOW)


def test_a_claim_token_is_unchanged_by_start_links() -> None:
    from shared.wave.actions import ActionLink, sign

    token = sign(ActionLink("claim", "vm", "mail", 2_000_000_000), KEY)
    body = token.split(".")[0]
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert sorted(payload) == ["a", "e", "r", "s"]
