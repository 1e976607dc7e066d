"""Routes as an ordered tree: GIVEN routes, WHEN an event arrives, THEN who gets which VMs.

The VMs are the four of ``shared/standins/enriched_samples.sample_vms`` (windows from the real
instance view): web-01 and web-02 (prod, availability set, rg-web-prod, eastus), sql-01 (prod,
tier db, advised to self-serve, rg-data-prod), batch-07 (dev, westeurope, rg-batch-dev).
"""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.models import EnrichedEvent
from shared.routing.config import parse_config
from shared.routing.grouping import group_event
from shared.routing.matcher import EVENT_SUBJECT
from shared.standins.enriched_samples import (
    NOW,
    SUBSCRIPTION,
    enriched_without_vms,
    sample_enriched,
)

RECEIVERS = """\
version: 1
receivers:
  - name: default
    type: email
    targets: [ops@example.com]
    options: {from: f@example.com, smtp_host: h}
  - {name: web, type: slack, options: {webhook_url_setting: SLACK_WEB}}
  - {name: db, type: teams, options: {webhook_url_setting: TEAMS_DB}}
  - name: phone
    type: sms
    targets: ['+15551234567']
    options: {account_sid: AC1, auth_token_setting: T, from: '+15005550006'}
  - {name: hook, type: webhook, targets: ['https://example.com/h'], options: {secret_setting: S}}
route:
  receivers: [default]
  routes:
"""
LATE_SEPTEMBER = datetime(2020, 9, 30, 12, 0, tzinfo=UTC)


def config_with(routes: str):  # type: ignore[no-untyped-def]
    return parse_config(RECEIVERS + textwrap.indent(textwrap.dedent(routes), "    "))


def decide(routes: str, enriched: EnrichedEvent, now: datetime = NOW) -> dict[str, list[str]]:
    groups = group_event(enriched, config_with(routes), now)
    return {
        group.receiver.name: [vm.name for vm in group.vms] or [EVENT_SUBJECT] for group in groups
    }


CASES = [
    pytest.param(
        "- {match: {vm_names: ['web-*']}, receivers: [web]}",
        sample_enriched(),
        NOW,
        {"default": ["sql-01", "batch-07"], "web": ["web-01", "web-02"]},
        id="vm-name-glob",
    ),
    pytest.param(
        """\
        - {match: {tags: {env: prod}}, receivers: [web]}
        - {match: {tags: {tier: db}}, receivers: [db]}
        """,
        sample_enriched(),
        NOW,
        {"default": ["batch-07"], "web": ["web-01", "web-02", "sql-01"]},
        id="first-match-wins",
    ),
    pytest.param(
        """\
        - {match: {tags: {env: prod}}, receivers: [web], continue: true}
        - {match: {tags: {tier: db}}, receivers: [db]}
        """,
        sample_enriched(),
        NOW,
        {"default": ["batch-07"], "web": ["web-01", "web-02", "sql-01"], "db": ["sql-01"]},
        id="continue-goes-on",
    ),
    pytest.param(
        "- {match: {resource_groups: ['RG-WEB-*']}, receivers: [web]}",
        sample_enriched(),
        NOW,
        {"default": ["sql-01", "batch-07"], "web": ["web-01", "web-02"]},
        id="resource-group-glob-ignores-case",
    ),
    pytest.param(
        "- {match: {regions: [West Europe]}, receivers: [db]}",
        sample_enriched(),
        NOW,
        {"default": ["web-01", "web-02", "sql-01"], "db": ["batch-07"]},
        id="region-display-name-matches-location",
    ),
    pytest.param(
        f"- {{match: {{subscriptions: ['{SUBSCRIPTION.upper()}']}}, receivers: [hook]}}",
        sample_enriched(),
        NOW,
        {"hook": ["web-01", "web-02", "sql-01", "batch-07"]},
        id="subscription-ignores-case",
    ),
    pytest.param(
        "- {match: {advice_actions: [self_service]}, receivers: [phone]}",
        sample_enriched(),
        NOW,
        {"default": ["web-01", "web-02", "batch-07"], "phone": ["sql-01"]},
        id="advice-action",
    ),
    pytest.param(
        "- {match: {window_opens_within: 1d}, receivers: [phone]}",
        sample_enriched(),
        LATE_SEPTEMBER,
        {"default": ["web-01", "web-02", "batch-07"], "phone": ["sql-01"]},
        id="window-opens-within",
    ),
    pytest.param(
        "- {match: {window_closes_within: 1d}, receivers: [phone]}",
        sample_enriched(),
        LATE_SEPTEMBER,
        {"default": ["sql-01", "batch-07"], "phone": ["web-01", "web-02"]},
        id="window-closes-within",
    ),
    pytest.param(
        "- {match: {tags: {env: prod}}, exclude: {tags: {tier: db}}, receivers: [web]}",
        sample_enriched(),
        NOW,
        {"default": ["sql-01", "batch-07"], "web": ["web-01", "web-02"]},
        id="exclude",
    ),
    pytest.param(
        """\
        - match: {tags: {env: prod}}
          receivers: [web]
          routes:
            - {match: {advice_actions: [self_service]}, receivers: [phone]}
        """,
        sample_enriched(),
        NOW,
        {"default": ["batch-07"], "web": ["web-01", "web-02"], "phone": ["sql-01"]},
        id="nested-child-takes-its-vms-parent-the-rest",
    ),
    pytest.param(
        """\
        - match: {tags: {env: prod}}
          receivers: [web]
          routes:
            - {match: {tags: {tier: db}}}
        """,
        sample_enriched(),
        NOW,
        {"default": ["batch-07"], "web": ["web-01", "web-02", "sql-01"]},
        id="child-without-receivers-inherits",
    ),
    pytest.param(
        """\
        - {match: {tags: {owner: ['web-*', DBA]}}, receivers: [hook], continue: true}
        - {match: {vm_names: ['batch-*']}, receivers: [db]}
        """,
        sample_enriched(),
        NOW,
        {"db": ["batch-07"], "hook": ["web-01", "web-02", "sql-01"]},
        id="tag-value-list-and-glob-only-matching-vms",
    ),
    pytest.param(
        """\
        - {match: {vm_names: ['*']}, receivers: [web]}
        - {match: {event_kinds: [service_health], stages: [Planned]}, receivers: [hook]}
        """,
        enriched_without_vms(),
        NOW,
        {"hook": [EVENT_SUBJECT]},
        id="event-without-vms-skips-vm-matchers",
    ),
    pytest.param(
        "- {match: {regions: [eastus], incident_types: [maintenance]}, receivers: [hook]}",
        enriched_without_vms(),
        NOW,
        {"hook": [EVENT_SUBJECT]},
        id="event-without-vms-by-region-and-type",
    ),
    pytest.param(
        "- {match: {stages: [Planned]}, receivers: [hook]}",
        enriched_without_vms(stage="Canceled"),
        NOW,
        {"default": [EVENT_SUBJECT]},
        id="other-stage-falls-to-default",
    ),
    pytest.param(
        "- {match: {window_opens_within: 3d}, receivers: [phone]}",
        enriched_without_vms(),
        datetime(2019, 6, 24, 12, 0, tzinfo=UTC),
        {"phone": [EVENT_SUBJECT]},
        id="event-without-vms-uses-impact-start",
    ),
]


@pytest.mark.parametrize(("routes", "enriched", "now", "expected"), CASES)
def test_routes_decide_who_gets_which_vms(
    routes: str, enriched: EnrichedEvent, now: datetime, expected: dict[str, list[str]]
) -> None:
    assert decide(routes, enriched, now) == expected


def test_each_vm_says_which_routes_brought_it() -> None:
    routes = """\
    - {name: prod, match: {tags: {env: prod}}, receivers: [hook], continue: true}
    - {name: databases, match: {tags: {tier: db}}, receivers: [hook]}
    """
    enriched = sample_enriched()
    (group,) = [
        g for g in group_event(enriched, config_with(routes), NOW) if g.receiver.name == "hook"
    ]
    sql = next(vm for vm in enriched.vms if vm.name == "sql-01")
    web = next(vm for vm in enriched.vms if vm.name == "web-01")
    assert group.why[sql.id] == ["route prod (tag env=prod)", "route databases (tag tier=db)"]
    assert group.why[web.id] == ["route prod (tag env=prod)"]
    assert group.routes == ["route prod (tag env=prod)", "route databases (tag tier=db)"]


def test_one_message_per_receiver_whatever_the_number_of_routes() -> None:
    routes = """\
    - {match: {vm_names: ['web-*']}, receivers: [hook, web], continue: true}
    - {match: {tags: {env: prod}}, receivers: [hook], continue: true}
    """
    groups = group_event(sample_enriched(), config_with(routes), NOW)
    names = [group.receiver.name for group in groups]
    assert sorted(names) == sorted(set(names))
    hook = next(group for group in groups if group.receiver.name == "hook")
    assert [vm.name for vm in hook.vms] == ["web-01", "web-02", "sql-01"]


def test_tags_match_whatever_the_case_people_typed() -> None:
    enriched = sample_enriched()
    shouting = replace(enriched, vms=[replace(vm, tags={"ENV": "Prod"}) for vm in enriched.vms])
    result = decide("- {match: {tags: {env: prod}}, receivers: [web]}", shouting)
    assert result == {"web": ["web-01", "web-02", "sql-01", "batch-07"]}
