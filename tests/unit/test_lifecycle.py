"""Where a message stands in its wave's life, on the sample Service Health maintenance.

GIVEN the sample notice with each stage Azure writes, or made by the wave timers
WHEN its notice type and wave key are read
THEN each is what the webhook document and the Slack update line say.
"""

from __future__ import annotations

import pytest

from shared.render.lifecycle import NOTICE_TYPES, notice_type, wave_key
from shared.standins.enriched_samples import sample_event
from shared.wave.notices import OPERATION_PREFIX, STAGE_OF

AZURE_STAGES = [
    ("Planned", "maintenance.announced"),
    ("Active", "maintenance.announced"),
    (None, "maintenance.announced"),
    ("InProgress", "maintenance.in_progress"),
    ("Rescheduled", "maintenance.rescheduled"),
    ("Complete", "maintenance.completed"),
    ("Canceled", "maintenance.cancelled"),
    ("Resolved", "maintenance.cancelled"),
]

WAVE_KINDS = [
    ("vm_added", "maintenance.vm_added"),
    ("rescheduled", "maintenance.rescheduled"),
    ("completed", "maintenance.completed"),
    ("gone", "maintenance.vm_deleted"),
    ("reminder", "maintenance.reminder"),
    ("escalation", "maintenance.escalated"),
    ("escalation_resolved", "maintenance.escalation_resolved"),
]


@pytest.mark.parametrize(("stage", "expected"), AZURE_STAGES)
def test_azures_stage_gives_the_notice_type(stage: str | None, expected: str) -> None:
    assert notice_type(sample_event(stage=stage)) == expected


@pytest.mark.parametrize(("kind", "expected"), WAVE_KINDS)
def test_the_wave_timers_kind_gives_the_notice_type(kind: str, expected: str) -> None:
    # Their events read as Azure stages too (STAGE_OF); the kind, not the stage, decides.
    event = sample_event(operation_name=f"{OPERATION_PREFIX}{kind}", stage=STAGE_OF[kind])
    assert notice_type(event) == expected


def test_every_wave_kind_has_a_documented_type() -> None:
    assert {kind for kind, _ in WAVE_KINDS} == set(STAGE_OF)
    assert {t for _, t in AZURE_STAGES + WAVE_KINDS} <= set(NOTICE_TYPES)


def test_a_service_issue_has_no_notice_type_but_threads_by_tracking_id() -> None:
    event = sample_event(incident_type="Incident", stage="Resolved", tracking_id="AbC-1")
    assert notice_type(event) is None
    assert wave_key(event) == "abc-1"


def test_no_tracking_id_no_wave() -> None:
    assert wave_key(sample_event(tracking_id=None)) is None
    assert wave_key(sample_event(tracking_id="  ")) is None
