"""An Administrative event keeps who did it; no other kind has a caller.

GIVEN (Microsoft's samples)                      THEN event.caller
Administrative test action, common schema        user-email@domain.com
Administrative, legacy schema (made about a VM)  the sample's caller
performMaintenance built from the test action    user-email@domain.com
Service Health maintenance notice                None
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.parsing.normalise import parse_alert

FIXTURES = Path(__file__).parents[1] / "fixtures"
RECEIVED = datetime(2030, 3, 2, 9, tzinfo=UTC)


def caller_of(name: str) -> str | None:
    payload = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return parse_alert(payload, RECEIVED).caller


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("azure/common-administrative-testaction-2021.json", "user-email@domain.com"),
        ("forewarn/common-administrative-performmaintenance.json", "user-email@domain.com"),
        ("forewarn/common-servicehealth-maintenance-planned-vms.json", None),
    ],
)
def test_the_caller_is_kept_for_administrative_events_only(
    fixture: str, expected: str | None
) -> None:
    assert caller_of(fixture) == expected


def test_the_legacy_administrative_sample_keeps_its_caller() -> None:
    # The sample is about an action group, which forewarn ignores; the same entry about a VM.
    text = (FIXTURES / "azure/legacy-activitylog-administrative.json").read_text(encoding="utf-8")
    text = text.replace("Microsoft.Insights/actionGroups", "Microsoft.Compute/virtualMachines")
    payload = json.loads(text)
    expected = payload["data"]["context"]["activityLog"]["caller"]
    event = parse_alert(payload, RECEIVED)
    assert event.kind == "administrative"
    assert event.caller == expected and expected
