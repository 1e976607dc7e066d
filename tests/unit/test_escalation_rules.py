"""Escalation as data (shared/routing/grouping.py, shared/wave/escalations.py): where an
escalation goes, which records may be escalated, which escalations are resolved, and what the
routing file refuses. Tables on the real instance view's windows (self-service closes
2020-10-01 00:00 UTC)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.models import Advice
from shared.routing.config import ConfigInvalidError, parse_config
from shared.routing.grouping import escalation_targets
from shared.standins.enriched_samples import make_vm
from shared.wave.claims import Claim, Ownership
from shared.wave.escalations import candidates, escalation_key, resolutions
from shared.wave.records import MaintenanceRecord, SentNotice

CLOSES = datetime(2020, 10, 1, tzinfo=UTC)
H = timedelta(hours=1)

ROUTING = """\
version: 1
receivers:
  - {name: chat, type: slack, options: {webhook_url_setting: X}, escalate: {to: pager, before: 24h}}
  - name: mail
    type: email
    targets: [a@example.com]
    options: {from: f@example.com, smtp_host: h}
    escalate: {to: oncall, before: 4h}
  - {name: pager, type: pagerduty, options: {routing_key_setting: PD}}
  - name: oncall
    type: email
    targets: [o@example.com]
    options: {from: f@example.com, smtp_host: h}
route: {receivers: [chat, mail]}
"""

#   GIVEN hours left   reached           resolved  THEN targets
TARGETS = [
    (25, ["chat", "mail"], False, []),
    (23, ["chat", "mail"], False, ["pager"]),
    (3, ["chat", "mail"], False, ["pager", "oncall"]),
    (3, ["mail"], False, ["oncall"]),
    (-1, ["chat", "mail"], False, []),  # closed: too late to start it yourself
    (25, ["chat", "mail"], True, ["pager", "oncall"]),  # a resolution goes to every target
    (3, ["pager"], False, []),  # a receiver without escalate escalates nothing
]


@pytest.mark.parametrize(("left", "reached", "resolved", "targets"), TARGETS)
def test_an_escalation_goes_to_the_targets_whose_before_holds(
    left: int, reached: list[str], resolved: bool, targets: list[str]
) -> None:
    vm = make_vm("sql-01", "rg-data")
    found = escalation_targets(
        vm, reached, parse_config(ROUTING), CLOSES - left * H, resolved=resolved
    )
    assert found == targets


def record(**changes: object) -> MaintenanceRecord:
    vm = replace(make_vm("sql-01", "rg-data"), advice=Advice("self_service", []))
    made = MaintenanceRecord.from_vm(vm, tracking_id="TRK", now="2020-09-01T00:00:00Z")
    return replace(made, **changes)  # type: ignore[arg-type]


CLAIMED = Ownership(
    vm_claims={record().vm_id.lower(): Claim("vm", record().vm_id.lower(), "Bob", "chat", "")}
)
ESCALATED = SentNotice(escalation_key("2020-10-01T00:00:00Z"), "escalation", "e1", "", ["pager"])

#   GIVEN the record                                   claims      THEN a candidate
CANDIDATES = [
    ("pending, self-service", {}, Ownership(), True),
    ("rescheduled", {"status": "rescheduled"}, Ownership(), True),
    ("claimed", {}, CLAIMED, False),
    ("started", {"status": "self_service_started"}, Ownership(), False),
    ("done", {"status": "completed"}, Ownership(), False),
    ("let Azure do it", {"advice": "let_azure"}, Ownership(), False),
    ("escalated already", {"sent": (ESCALATED,)}, Ownership(), False),
]


@pytest.mark.parametrize(
    ("changes", "claims", "expected"),
    [c[1:] for c in CANDIDATES],
    ids=[c[0] for c in CANDIDATES],
)
def test_only_a_waiting_unclaimed_self_service_vm_is_a_candidate(
    changes: dict[str, object], claims: Ownership, expected: bool
) -> None:
    found = candidates([record(**changes)], CLOSES - 20 * H, 24 * H, claims)
    assert bool(found) is expected


#   GIVEN an escalated record that is now          claims      THEN resolved, saying
RESOLUTIONS = [
    ("still waiting", {}, Ownership(), None),
    ("claimed", {}, CLAIMED, "resolved: claimed by Bob"),
    (
        "started",
        {"status": "self_service_started"},
        Ownership(),
        "resolved: its maintenance was started",
    ),
    (
        "done",
        {"status": "completed"},
        Ownership(),
        "resolved: its maintenance is no longer pending",
    ),
    ("deleted", {"status": "gone"}, Ownership(), "resolved: the VM was deleted"),
]


@pytest.mark.parametrize(
    ("changes", "claims", "said"),
    [c[1:] for c in RESOLUTIONS],
    ids=[c[0] for c in RESOLUTIONS],
)
def test_an_escalation_is_resolved_once_someone_or_azure_acted(
    changes: dict[str, object], claims: Ownership, said: str | None
) -> None:
    escalated = record(sent=(ESCALATED,), **changes)
    found = resolutions([escalated], claims)
    assert [notice.detail for _, notice in found] == ([said] if said else [])
    # AND once its resolution is recorded, it is not resolved again
    if found:
        _, notice = found[0]
        done = escalated.with_sent(SentNotice(notice.key, notice.kind, "e2", "", ["pager"]))
        assert resolutions([done], claims) == []


@pytest.mark.parametrize(
    ("escalate", "message"),
    [
        ("{to: nobody, before: 24h}", "no receiver named 'nobody'"),
        ("{to: chat, before: 24h}", "a receiver cannot escalate to itself"),
        ("{to: pager, before: soon}", "must be a duration"),
        ("{to: pager}", "'before' is a required property"),
    ],
)
def test_the_routing_file_refuses_an_escalation_that_cannot_work(
    escalate: str, message: str
) -> None:
    text = ROUTING.replace("escalate: {to: pager, before: 24h}", f"escalate: {escalate}")
    with pytest.raises(ConfigInvalidError) as raised:
        parse_config(text)
    assert any(message in problem.message for problem in raised.value.problems)


def test_an_escalation_target_needs_no_route_of_its_own() -> None:
    assert parse_config(ROUTING).warnings == ()
