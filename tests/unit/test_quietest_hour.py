"""The quietest hour per VM and the plan that prefers it (pure code, scripted workspace).

GIVEN each VM's average CPU per hour of the week and its self-service window
WHEN  enrichment asks the workspace (one query for all VMs) and plans
THEN  each VM's hint is the lowest-load hour that fits whole in its window; a VM without data
      has none; a failed query is a note; the plan starts a step at a quiet hour only where
      every later step still fits, one step at a time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.enrich.plan import PlanSettings, plan_maintenance
from shared.loganalytics import LogsUnavailableError
from shared.loganalytics.client import InMemoryLogsReader, QueryResult
from shared.loganalytics.quietest import (
    LOOKBACK,
    add_quietest_hours,
    first_occurrence,
    quietest_in_window,
    slot_of,
)
from shared.models import (
    Advice,
    MaintenanceStatus,
    QuietestHour,
    TimeWindow,
    VirtualMachine,
)
from shared.timeutil import format_utc

# Friday 4 December 2026, 12:00 UTC
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SUNDAY = datetime(2026, 12, 6, 0, 0, tzinfo=UTC)


def at(days: float = 0, hours: float = 0) -> datetime:
    return NOW + timedelta(days=days, hours=hours)


def vm(
    name: str,
    window: tuple[datetime, datetime] | None = (NOW, NOW + timedelta(days=14)),
    action: str = "self_service",
    update_domain: int | None = None,
    hint: QuietestHour | None = None,
) -> VirtualMachine:
    status = None
    if window is not None:
        status = MaintenanceStatus(
            True,
            TimeWindow(format_utc(window[0]), format_utc(window[1])),
            TimeWindow(format_utc(window[1]), format_utc(window[1] + timedelta(days=1))),
        )
    return VirtualMachine(
        id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{name}",
        name=name,
        subscription_id="s",
        resource_group="rg",
        location="eastus",
        availability_set="as" if update_domain is not None else None,
        update_domain=update_domain,
        maintenance=status,
        advice=Advice(action, []),  # type: ignore[arg-type]
        quietest_hour=hint,
    )


@pytest.mark.parametrize(
    ("moment", "slot"),
    [
        (SUNDAY, 0),
        (SUNDAY + timedelta(hours=5), 5),
        (SUNDAY + timedelta(days=1, hours=2), 26),  # Monday 02:00
        (SUNDAY - timedelta(hours=1), 167),  # Saturday 23:00
    ],
)
def test_slots_count_from_sunday_like_kql_dayofweek(moment: datetime, slot: int) -> None:
    assert slot_of(moment) == slot


@pytest.mark.parametrize(
    ("slot", "start", "end", "expected"),
    [
        # Sunday 03:00 in a window Saturday 12:00 .. Monday 12:00
        (3, at(days=1), at(days=3), SUNDAY + timedelta(hours=3)),
        # the hour must fit whole: the window ends at Sunday 03:30
        (3, at(days=1), SUNDAY + timedelta(hours=3, minutes=30), None),
        # a window starting mid-hour: 12:30 -> the 13:00 hour is the first whole one
        (slot_of(at(hours=1)), at(hours=0.5), at(days=1), at(hours=1)),
        # the hour comes round again a week later in a long window
        (slot_of(at(hours=-1)), NOW, at(days=14), at(days=7, hours=-1)),
    ],
)
def test_first_whole_occurrence_inside_the_window(
    slot: int, start: datetime, end: datetime, expected: datetime | None
) -> None:
    assert first_occurrence(slot, start, end) == expected


def test_the_lowest_load_that_fits_wins_and_ties_go_to_the_earlier_hour() -> None:
    quiet, busy = slot_of(at(hours=15)), slot_of(at(hours=3))
    outside = slot_of(at(days=2))
    loads = {busy: (40.0, 14), quiet: (4.0, 14), outside: (1.0, 14), quiet + 1: (4.0, 14)}
    hint = quietest_in_window(loads, NOW, at(days=1))
    assert hint is not None
    assert (hint.start, hint.end) == (format_utc(at(hours=15)), format_utc(at(hours=16)))
    assert hint.load_percent == 4.0 and hint.samples == 14


def test_one_query_for_all_vms_and_only_self_serve_ones_are_asked_about() -> None:
    vms = [vm(f"vm{i}") for i in range(50)] + [vm("azure", action="let_azure")]
    asked: list[list[str]] = []

    def answer(name: str, parameters: dict, span: object) -> QueryResult:
        asked.append(parameters["vm_ids"])
        assert span == (NOW - LOOKBACK, NOW)
        slot = slot_of(at(hours=14))
        return QueryResult([{"vm": i, "slots": json.dumps([[slot, 3.0 + i, 14]])} for i in (0, 7)])

    reader = InMemoryLogsReader(answer)
    hinted, notes = add_quietest_hours(vms, reader, NOW)

    assert reader.stats.queries == 1 and notes == []
    assert len(asked[0]) == 50 and vms[-1].id.lower() not in asked[0]
    by_name = {v.name: v.quietest_hour for v in hinted}
    assert by_name["vm0"] == QuietestHour(
        format_utc(at(hours=14)), format_utc(at(hours=15)), 3.0, samples=14
    )
    assert by_name["vm7"] is not None and by_name["vm7"].load_percent == 10.0
    assert by_name["vm1"] is None and by_name["azure"] is None


@pytest.mark.parametrize(
    ("rows", "partial", "codes", "hinted"),
    [
        ([], None, ["no_performance_data"], 0),  # the workspace has no CPU data for them
        ([], "PartialError: x", ["logs_partial"], 0),  # a part may have had it
        (
            [{"vm": 0, "slots": [[40, 2.0, 3]]}],
            "PartialError: x",
            ["logs_partial"],
            1,
        ),
        ([{"vm": 9, "slots": [[40, 2.0, 1]]}, {"vm": 0, "slots": [[999, 1, 1]]}], None, [], 0),
        ([{"vm": "x", "slots": "{"}, {"vm": 0, "slots": [[1, "?", 1]]}], None, [], 0),
    ],
)
def test_odd_or_partial_answers_give_fewer_hints_never_a_failure(
    rows: list[dict], partial: str | None, codes: list[str], hinted: int
) -> None:
    reader = InMemoryLogsReader(lambda *_: QueryResult(rows, partial))
    vms, notes = add_quietest_hours([vm("a")], reader, NOW)
    assert [n.code for n in notes] == codes
    assert sum(v.quietest_hour is not None for v in vms) == hinted


def test_no_performance_data_is_said_once_for_all_vms_and_names_what_to_turn_on() -> None:
    # GIVEN a workspace without InsightsMetrics or Perf rows for three self-serve VMs
    reader = InMemoryLogsReader(lambda *_: QueryResult([]))
    # WHEN their quietest hours are asked for
    _, notes = add_quietest_hours([vm("a"), vm("b"), vm("c")], reader, NOW)
    # THEN one note, saying what the workspace lacks and where to read about it
    (note,) = notes
    assert note.code == "no_performance_data"
    assert "VM insights" in note.message and "Perf" in note.message
    assert "docs/configuration.md" in note.message


def test_a_failed_query_is_a_note_and_the_vms_are_unchanged() -> None:
    reader = InMemoryLogsReader()
    reader.fail_with = LogsUnavailableError("503")
    vms = [vm("a")]
    out, notes = add_quietest_hours(vms, reader, NOW)
    assert out == vms and [n.code for n in notes] == ["logs_unavailable"]


def test_no_reader_or_no_self_serve_vm_means_no_query() -> None:
    reader = InMemoryLogsReader()
    assert add_quietest_hours([vm("a")], None, NOW) == ([vm("a")], [])
    add_quietest_hours([vm("b", action="let_azure")], reader, NOW)
    assert reader.stats.queries == 0


# --- the plan ------------------------------------------------------------------------

SETTINGS = PlanSettings(lead_minutes=60)


def hint(start: datetime, load: float = 2.0) -> QuietestHour:
    return QuietestHour(format_utc(start), format_utc(start + timedelta(hours=1)), load)


@pytest.mark.parametrize(
    ("vms", "starts", "quiet"),
    [
        # no hints: steps back to back from the lead time
        (
            [vm("a", update_domain=0), vm("b", update_domain=1)],
            [at(hours=1), at(hours=2)],
            [False, False],
        ),
        # step 1 moves to its quiet hour at 03:00 tomorrow; step 2 follows it
        (
            [vm("a", update_domain=0, hint=hint(at(hours=15))), vm("b", update_domain=1)],
            [at(hours=15), at(hours=16)],
            [True, False],
        ),
        # a hint before the earliest start is taken a week later
        (
            [vm("a", window=(NOW, at(days=20)), hint=hint(at(hours=-5)))],
            [at(days=7, hours=-5)],
            [True],
        ),
        # the quiet hour would leave step 2 no room before its window closes: not taken
        (
            [
                vm("a", update_domain=0, hint=hint(at(hours=20))),
                vm("b", update_domain=1, window=(NOW, at(hours=20))),
            ],
            [at(hours=1), at(hours=2)],
            [False, False],
        ),
        # the lowest load among a step's VMs wins
        (
            [
                vm("a", update_domain=0, hint=hint(at(hours=30), load=9.0)),
                vm("b", update_domain=0, hint=hint(at(hours=10), load=1.0)),
            ],
            [at(hours=10)],
            [True],
        ),
    ],
)
def test_plan_prefers_quiet_hours_one_step_at_a_time(
    vms: list[VirtualMachine], starts: list[datetime], quiet: list[bool]
) -> None:
    plan = plan_maintenance(vms, NOW, SETTINGS)
    assert plan is not None
    assert [step.start for step in plan.steps] == [format_utc(s) for s in starts]
    assert [step.quietest for step in plan.steps] == quiet
    assert not plan.warnings
    # still one step at a time, at least the spacing apart
    for before, after in zip(plan.steps, plan.steps[1:], strict=False):
        assert after.start >= before.end


@pytest.mark.parametrize(
    ("start", "load", "text"),
    [
        (datetime(2026, 12, 8, 2, tzinfo=UTC), 4.2, "Tue 02:00–03:00 UTC, 4 % CPU"),
        (datetime(2026, 12, 6, 23, tzinfo=UTC), 0.4, "Sun 23:00–00:00 UTC, 0.4 % CPU"),
    ],
)
def test_the_hint_reads_as_people_say_it(start: datetime, load: float, text: str) -> None:
    hinted = vm("a", hint=hint(start, load=load))
    assert hinted.quietest_note == f" · quietest: {text}"
    assert vm("b").quietest_note == ""
