"""Resource Graph's Service Health events as the catch-up's rows (loganalytics/graph_events.py).

GIVEN a ``servicehealthresources`` event row (capitalised properties, as Microsoft's samples
read them), WHEN it becomes an ``AzureActivity`` row and goes through ``event_from_row``, THEN
it is the Service Health maintenance event the webhook path would make of the same facts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.loganalytics.activity import event_from_row
from shared.loganalytics.graph_events import activity_row
from shared.standins.resourcegraph_server import service_health_event

AT = datetime(2030, 5, 1, 8, 30, tzinfo=UTC)
SUB = "6e1b7b3c-8d2e-4c8e-9f51-3d2a1c0b9e77"


def test_an_event_row_is_the_webhooks_event() -> None:
    row = service_health_event(SUB, "TRK-1", last_update=AT, regions=("East US", "West US"))

    event = event_from_row(activity_row(row), AT)

    assert (event.kind, event.tracking_id, event.incident_type, event.stage) == (
        "service_health",
        "TRK-1",
        "Maintenance",
        "Active",
    )
    assert event.subscription_ids == [SUB]
    assert [(s.service, s.regions) for s in event.impacted] == [
        ("Virtual Machines", ["East US", "West US"])
    ]
    assert event.impact_start == "2030-05-08T08:30:00Z"
    assert event.recovered is True
    assert "reboot" in event.summary


@pytest.mark.parametrize(
    ("change", "same_id"),
    [
        ({}, True),  # the next pass: the same event
        ({"LastUpdateTime": "2030-05-02T00:00:00Z"}, True),  # updated text, same stage
        ({"Status": "Resolved"}, False),  # a new stage is a new notice
    ],
)
def test_ids_are_stable_across_passes(change: dict[str, str], same_id: bool) -> None:
    row = service_health_event(SUB, "TRK-1", last_update=AT)
    other = service_health_event(SUB, "TRK-1", last_update=AT + timedelta(hours=2))
    other["properties"].update(change)

    first = event_from_row(activity_row(row), AT).event_id
    second = event_from_row(activity_row(other), AT).event_id

    assert (first == second) is same_id


def test_epoch_milliseconds_become_iso_times() -> None:
    row = service_health_event(SUB, "TRK-1", last_update=AT)
    row["properties"]["ImpactStartTime"] = int(AT.timestamp() * 1000)

    assert activity_row(row)["Properties_d"]["impactStartTime"] == "2030-05-01T08:30:00Z"
