"""Enrichment asks the stand-in workspace, through the real LogsQueryClient, once per event.

GIVEN the demo fleet on the stand-in ARM and 14 days of CPU history in the stand-in workspace
WHEN  a maintenance event is enriched with a workspace configured
THEN  one query covers every self-serve VM, each VM with data gets its quietest hour inside its
      window, the plan starts that VM's step then, and the messages' VM line shows it;
      without a workspace, or when it fails, enrichment is what it was, with a note.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.enrich.arm import ArmClient
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.pipeline import enrich_event, survey_fleet
from shared.enrich.plan import plan_heading, plan_maintenance
from shared.enrich.services import EnrichmentServices
from shared.models import EnrichedEvent
from shared.standins.arm_fleet import maintenance_event
from shared.standins.arm_server import ArmStandIn
from shared.standins.cpu_history import hourly_cpu
from shared.standins.local_stack import DEMO_SUBSCRIPTION, demo_fleet
from shared.standins.loganalytics_server import LogAnalyticsStandIn
from shared.standins.stand_in import Failure
from shared.timeutil import parse_utc

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def arm() -> Iterator[ArmClient]:
    with ArmStandIn(demo_fleet(NOW)) as stand_in:
        client = ArmClient(stand_in.base_url, StaticTokenProvider(stand_in.token))
        yield client
        client.close()


@pytest.fixture
def workspace() -> Iterator[LogAnalyticsStandIn]:
    with LogAnalyticsStandIn() as stand_in:
        yield stand_in  # type: ignore[misc]


def enrich(arm: ArmClient, environ: dict[str, str]) -> EnrichedEvent:
    services = EnrichmentServices.create(environ, arm=arm)
    return enrich_event(maintenance_event([DEMO_SUBSCRIPTION]), services)


def settings(workspace: LogAnalyticsStandIn) -> dict[str, str]:
    return {
        names.SETTING_LOG_ANALYTICS_WORKSPACE_ID: workspace.workspace_id,
        names.SETTING_LOG_ANALYTICS_ENDPOINT: workspace.base_url,
        names.SETTING_PLAN_LEAD_MINUTES: "60",
    }


def vm_id(name: str) -> str:
    group = "rg-lab-dev" if name == "build-agent" else "rg-shop-prod"
    return (
        f"/subscriptions/{DEMO_SUBSCRIPTION}/resourceGroups/{group}/providers/"
        f"Microsoft.Compute/virtualMachines/{name}"
    )


def test_one_query_gives_each_vm_its_quietest_hour_and_the_plan_takes_it(
    arm: ArmClient, workspace: LogAnalyticsStandIn
) -> None:
    quiet_at = NOW + timedelta(days=2, hours=3)  # inside sql-01's 10-day window
    workspace.add_cpu(vm_id("sql-01"), hourly_cpu(NOW, quiet_at))

    enriched = enrich(arm, settings(workspace))

    assert [name for name, _, _ in workspace.queries] == ["quietest-hour"]
    asked = workspace.queries[0][1]["vm_ids"]
    by_name = {vm.name: vm for vm in enriched.vms}
    self_serve = sorted(n for n, v in by_name.items() if v.advice.action == "self_service")
    assert sorted(i.rsplit("/", 1)[-1] for i in asked) == self_serve
    hint = by_name["sql-01"].quietest_hour
    assert hint is not None
    assert hint.start == quiet_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert hint.load_percent == 4.0 and hint.samples == 2
    assert all(v.quietest_hour is None for n, v in by_name.items() if n != "sql-01")
    assert enriched.plan is not None
    step = next(s for s in enriched.plan.steps if vm_id("sql-01") in s.vm_ids)
    assert step.quietest and step.start == hint.start
    assert "quietest: " in by_name["sql-01"].quietest_note
    assert not [note for note in enriched.notes if note.code.startswith("logs_")]


def test_without_a_workspace_nothing_is_asked(
    arm: ArmClient, workspace: LogAnalyticsStandIn
) -> None:
    enriched = enrich(arm, {})
    assert workspace.requests == []
    assert all(vm.quietest_hour is None for vm in enriched.vms)


def test_a_failing_workspace_is_a_note_and_enrichment_goes_on(
    arm: ArmClient, workspace: LogAnalyticsStandIn
) -> None:
    workspace.script.always(Failure(status=500))
    without = enrich(arm, {})
    enriched = enrich(arm, settings(workspace))
    assert [n.code for n in enriched.notes if n not in without.notes] == ["logs_unavailable"]
    assert [vm.name for vm in enriched.vms] == [vm.name for vm in without.vms]
    assert enriched.plan is not None and without.plan is not None
    assert [s.vm_ids for s in enriched.plan.steps] == [s.vm_ids for s in without.plan.steps]


def test_the_fleet_view_and_its_plan_get_the_hints_too(
    arm: ArmClient, workspace: LogAnalyticsStandIn
) -> None:
    """``forewarn vms`` and ``forewarn plan`` read the fleet through ``survey_fleet``."""
    quiet_at = NOW + timedelta(days=3, hours=2)
    workspace.add_cpu(vm_id("sql-02"), hourly_cpu(NOW, quiet_at))
    services = EnrichmentServices.create(settings(workspace), arm=arm)

    survey = survey_fleet([DEMO_SUBSCRIPTION], services)

    assert [name for name, _, _ in workspace.queries] == ["quietest-hour"]
    hints = {vm.name: vm.quietest_hour for vm in survey.vms if vm.quietest_hour}
    assert list(hints) == ["sql-02"]
    assert hints["sql-02"].start == quiet_at.strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[union-attr]


# Finding 6 of issue 16: `forewarn plan` proposed other times than the messages for the same
# fleet. GIVEN the same VMs, clock and settings, the message's plan (enrichment) and the plan
# command's (the fleet survey) are the same steps at the same times.
@pytest.mark.parametrize(
    "quiet",
    [
        {},  # no hints: steps one after another
        {"sql-01": timedelta(days=1, hours=1), "sql-02": timedelta(days=2, hours=1)},
        {"sql-02": timedelta(days=3, hours=2)},
    ],
    ids=["no-hints", "both-moved-a-day-apart", "one-moved"],
)
def test_the_plan_command_and_the_message_plan_agree_on_the_same_inputs(
    arm: ArmClient, workspace: LogAnalyticsStandIn, quiet: dict[str, timedelta]
) -> None:
    for name, offset in quiet.items():
        workspace.add_cpu(vm_id(name), hourly_cpu(NOW, NOW + offset))
    message = EnrichmentServices.create(settings(workspace), arm=arm)
    command = EnrichmentServices.create(settings(workspace), arm=arm)
    message.clock = command.clock = lambda: NOW
    enriched = enrich_event(maintenance_event([DEMO_SUBSCRIPTION]), message)
    proposed = plan_maintenance(
        survey_fleet([DEMO_SUBSCRIPTION], command).vms, NOW, command.plan_settings
    )
    assert enriched.plan is not None and proposed is not None
    steps = [(s.start, s.vm_ids, s.quietest) for s in enriched.plan.steps]
    assert steps == [(s.start, s.vm_ids, s.quietest) for s in proposed.steps]
    assert plan_heading([parse_utc(s.start) for s in proposed.steps]).startswith("2 steps, ")
