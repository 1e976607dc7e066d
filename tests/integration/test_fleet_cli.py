"""``forewarn vms``, ``plan``, ``start-maintenance`` as a user runs them, on the stand-in."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from shared import names
from shared.standins.arm_fleet import Fleet, FleetVm, redeploy_status, window_from
from shared.standins.arm_server import ArmStandIn
from shared.standins.loganalytics_server import LogAnalyticsStandIn
from shared.standins.stand_in import closed_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(microsecond=0)
PACIFIC = timezone(timedelta(hours=-7))  # app1's window is written like the ARM sample's
EARLY = NOW - timedelta(days=2)
LATE = NOW - timedelta(days=1)
DAY = timedelta(days=1)


def build_fleet() -> Fleet:
    late = LATE.astimezone(PACIFIC)
    return Fleet().add(
        FleetVm("sub-1", "rg-app", "app2", update_domain=1, maintenance=window_from(LATE)),
        FleetVm(
            "sub-1",
            "rg-app",
            "app1",
            update_domain=0,
            maintenance=redeploy_status(
                late,
                late + timedelta(days=30),
                late + timedelta(days=31),
                late + timedelta(days=32),
            ),
        ),
        FleetVm("sub-1", "rg-app", "quiet"),
        FleetVm(
            "sub-1", "rg-app", "locked", availability_set="web-as", maintenance=window_from(EARLY)
        ),
        FleetVm(
            "sub-2",
            "rg-db",
            "db1",
            update_domain=2,
            maintenance=window_from(EARLY),
            tags={"team": "data"},
        ),
        FleetVm("sub-2", "rg-db", "dropped", deleted=True, maintenance=window_from(EARLY)),
        # Opens first but closes last: the deadline, not the opening, orders the list.
        FleetVm("sub-2", "rg-db", "archive", maintenance=window_from(EARLY - DAY, days=40)),
        FleetVm("sub-3", "rg", "hidden", maintenance=window_from(EARLY)),
    )


@pytest.fixture
def arm() -> Iterator[ArmStandIn]:
    fleet = build_fleet()
    fleet.forbidden.add("sub-3")
    with ArmStandIn(fleet) as server:
        yield server


def forewarn(
    arm: ArmStandIn, *args: str, token: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        names.SETTING_ARM_ENDPOINT: arm.base_url,
        names.SETTING_ARM_TOKEN: token or arm.token,
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_vms_json_given_two_subscriptions_then_sorted_by_deadline_then_schedule_then_name(
    arm: ArmStandIn,
) -> None:
    result = forewarn(arm, "vms", "--subscription", "sub-1", "--subscription", "sub-2", "--json")
    assert result.returncode == 1, result.stderr  # partial: a VM vanished
    assert result.stderr.splitlines() == [
        "note: vm_gone: VM dropped no longer exists (deleted after it was listed)"
    ]
    vms = json.loads(result.stdout)
    # GIVEN db1/locked: same windows (name decides); app2/app1: same self-service end, app2
    # scheduled first; archive: opens first, closes last THEN by deadline, schedule, name.
    assert [vm["name"] for vm in vms] == ["db1", "locked", "app2", "app1", "archive"]
    required = {
        "id",
        "name",
        "resource_group",
        "location",
        "power_state",
        "update_domain",
        "fault_domain",
        "availability_set",
        "scale_set",
        "tags",
        "maintenance",
        "advice",
    }
    assert all(required <= set(vm) for vm in vms)
    app1 = next(vm for vm in vms if vm["name"] == "app1")
    window = app1["maintenance"]["self_service_window"]
    assert window["start"] == LATE.strftime("%Y-%m-%dT%H:%M:%SZ")  # -07:00 read as UTC
    assert set(app1["maintenance"]) == {
        "self_service_allowed",
        "self_service_window",
        "scheduled_window",
        "last_result_code",
        "last_message",
    }
    assert app1["advice"]["action"] == "self_service"
    locked = next(vm for vm in vms if vm["name"] == "locked")
    assert (locked["advice"]["action"], locked["availability_set"].endswith("/WEB-AS")) == (
        "let_azure",
        True,
    )
    assert next(vm for vm in vms if vm["name"] == "db1")["tags"] == {"team": "data"}


def test_vms_table_given_a_forbidden_subscription_then_a_note_and_the_rest(
    arm: ArmStandIn,
) -> None:
    result = forewarn(arm, "vms", "--subscription", "sub-3", "--subscription", "sub-1")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("note: forbidden: no read permission on subscription sub-3")
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "RESOURCE", "GROUP"]
    assert [line.split()[0] for line in lines[1:]] == ["locked", "app2", "app1"]


def plan_steps(stdout: str) -> list[tuple[str, str, str]]:
    """(step line up to the times, its VM names, the command line under it) per step."""
    lines = stdout.splitlines()
    return [
        (line.split(":")[0], line.rsplit(": ", 1)[1], lines[index + 1].strip())
        for index, line in enumerate(lines)
        if line[:1].isdigit()
    ]


def test_plan_given_standalone_vms_then_one_per_step_each_with_its_command(
    arm: ArmStandIn,
) -> None:
    # GIVEN standalone VMs (app1 and archive both report update domain 0)
    result = forewarn(
        arm, "plan", "--subscription", "sub-1", "--subscription", "sub-2", "--gap-minutes", "45"
    )
    # THEN each is its own step, with the command that starts it, 30 + 45 minutes apart
    steps = plan_steps(result.stdout)
    assert [(label, members) for label, members, _ in steps] == [
        ("1. VM app1", "app1"),
        ("2. VM app2", "app2"),
        ("3. VM archive", "archive"),
        ("4. VM db1", "db1"),
    ]
    ids = {vm.name: vm.id for vm in arm.fleet.vms.values()}
    assert [command for *_, command in steps] == [
        f"forewarn start-maintenance {ids[name]}" for name in ("app1", "app2", "archive", "db1")
    ]
    assert "steps at least 75 minutes apart" in result.stdout.splitlines()[0]
    # AND the header states the spacing the steps have, and why a message's plan may differ
    assert result.stdout.startswith("Plan: 4 steps, 1 h 15 min apart (start to start). ")
    assert "A message shows the plan made when its notice arrived" in result.stdout
    # AND beside each forewarn line, the plain Azure CLI line anyone can run (issue 16, 8)
    assert "   az vm perform-maintenance -g rg-db -n archive --subscription sub-2" in (
        result.stdout.splitlines()
    )
    assert result.returncode == 1  # the vanished VM is a note


def test_plan_json_given_the_lead_time_setting_then_no_step_starts_sooner(arm: ArmStandIn) -> None:
    # GIVEN FOREWARN_PLAN_LEAD_MINUTES=120 WHEN planning THEN the first step is 2 h away or more
    env = {names.SETTING_PLAN_LEAD_MINUTES: "120"}
    result = forewarn(arm, "plan", "--subscription", "sub-1", "--json", env=env)
    plan = json.loads(result.stdout)
    first = datetime.fromisoformat(plan["steps"][0]["start"].replace("Z", "+00:00"))
    assert first >= datetime.now(UTC) + timedelta(minutes=119)
    assert (plan["lead_minutes"], plan["step_minutes"], plan["gap_minutes"]) == (120, 30, 30)
    assert [step["kind"] for step in plan["steps"]] == ["vm", "vm"]


def test_start_maintenance_given_a_plan_steps_command_then_it_starts_that_step(
    arm: ArmStandIn,
) -> None:
    # GIVEN the command line printed under a plan step, pasted with --yes
    steps = plan_steps(forewarn(arm, "plan", "--subscription", "sub-1").stdout)
    command = shlex.split(steps[0][2])
    assert command[:2] == ["forewarn", "start-maintenance"]
    result = forewarn(arm, *command[1:], "--yes")
    # THEN that step's VM is started, and nothing else
    assert [line.split("  ")[0] for line in result.stdout.splitlines()] == ["completed"]
    # Its own run's step, not the plan's: pasted from step 2 it is still this run's only step
    # (outside review of issue 16: "step 1" under the message's step 2 read as another plan).
    assert "step 1 of this run (VM app1)" in result.stdout
    assert arm.counts["maintain sub-1"] == 1


def test_start_maintenance_given_standalone_vms_of_one_update_domain_then_one_step_at_a_time(
    arm: ArmStandIn,
) -> None:
    # GIVEN app1 and archive, standalone, both reporting update domain 0
    app1 = arm.fleet.find(arm.fleet.of("sub-1")[1].id)
    archive = next(vm for vm in arm.fleet.of("sub-2") if vm.name == "archive")
    assert app1 is not None and app1.update_domain == archive.update_domain == 0
    result = forewarn(
        arm, "start-maintenance", archive.id, app1.id, "--yes", "--gap-minutes", "0.02"
    )
    # THEN never both at once: app1's maintenance ends before archive's starts
    assert [line.split("  ")[:2] for line in result.stdout.splitlines()] == [
        ["completed", app1.id],
        ["completed", archive.id],
    ]
    assert [what for what, _ in arm.maintenance_log] == ["start", "end", "start", "end"]
    assert [vm_id.lower() for _, vm_id in arm.maintenance_log][::2] == [
        app1.id.lower(),
        archive.id.lower(),
    ]
    assert result.returncode == 0


def test_start_maintenance_without_yes_then_only_says_what_it_would_do(arm: ArmStandIn) -> None:
    vm = arm.fleet.of("sub-1")[0]
    result = forewarn(arm, "start-maintenance", vm.id)
    assert (result.returncode, result.stdout.split()[0]) == (0, "would_start")
    assert arm.counts["maintain sub-1"] == 0


def test_start_maintenance_with_yes_then_reports_each_vm(arm: ArmStandIn) -> None:
    app2, _, quiet, _ = arm.fleet.of("sub-1")
    result = forewarn(arm, "start-maintenance", app2.id, quiet.id, "--yes")
    assert [line.split("  ")[0] for line in result.stdout.splitlines()] == [
        "skipped",
        "completed",  # nothing to start first, then update domain by domain
    ]
    assert "no maintenance is planned" in result.stdout
    assert result.returncode == 1
    assert arm.counts["maintain sub-1"] == 1


@pytest.mark.parametrize(
    ("setup", "token", "expected"),
    [
        pytest.param(
            None,
            "expired",
            "ARM rejected the credentials (InvalidAuthenticationToken)",
            id="bad credentials",
        ),
        pytest.param(429, None, "gave up: throttled by ARM", id="throttled after all tries"),
    ],
)
def test_given_a_stopping_error_then_one_line_and_exit_2(
    arm: ArmStandIn, setup: int | None, token: str | None, expected: str
) -> None:
    if setup:
        arm.script.fail(100, status=setup, retry_after="0")
    result = forewarn(arm, "vms", "--subscription", "sub-1", token=token)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert expected in result.stderr
    assert result.stdout == ""


def test_start_maintenance_given_a_failed_domain_then_reports_all_and_stops_before_the_next(
    arm: ArmStandIn,
) -> None:
    app2, app1, _, _ = arm.fleet.of("sub-1")
    app1.maintenance_fails = True  # update domain 0; app2 is in update domain 1
    result = forewarn(arm, "start-maintenance", app2.id, app1.id, "--yes")
    assert [line.split("  ")[:2] for line in result.stdout.splitlines()] == [
        ["failed", app1.id],
        ["not_started", app2.id],
    ]
    assert result.stderr.splitlines() == [
        "forewarn start-maintenance: stopped: 1 VM(s) VM app1 had a failure (step 1), "
        "so later steps were not started"
    ]
    assert result.returncode == 2
    assert arm.counts["maintain sub-1"] == 1


@pytest.mark.parametrize("command", [["vms"], ["plan"]])
def test_given_no_credentials_then_one_line_saying_az_login_or_the_token_setting(
    arm: ArmStandIn, tmp_path: Path, command: list[str]
) -> None:
    # GIVEN no FOREWARN_ARM_TOKEN, no az login (an empty home) and a managed-identity endpoint
    # that refuses (on 127.0.0.1: nothing leaves the machine)
    no_credentials = {
        names.SETTING_ARM_TOKEN: "",
        "HOME": str(tmp_path),
        "AZURE_CONFIG_DIR": str(tmp_path / ".azure"),
        "IDENTITY_ENDPOINT": f"http://127.0.0.1:{closed_port()}/token",
        "IDENTITY_HEADER": "stand-in",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    # WHEN a fleet command runs
    result = forewarn(arm, *command, "--subscription", "sub-1", env={**env, **no_credentials})
    # THEN one line says what to do, not the credential chain's dozen
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "az login" in result.stderr
    assert names.SETTING_ARM_TOKEN in result.stderr


# Finding 8 of issue 16: start-maintenance offered "add --yes to start it" to VMs the advice
# says not to start, without a word.
@pytest.mark.parametrize(
    ("vm", "flags", "outcome", "says"),
    [
        # GIVEN the VM              WHEN run with            THEN         AND the line says
        ("locked", ["--yes"], "advised_against", ["let Azure do it", "availability set"]),
        ("nightly", ["--yes"], "advised_against", ["do not start it yourself", "auto-shutdown"]),
        ("nightly", [], "advised_against", ["--against-advice"]),
        ("locked", ["--yes", "--against-advice"], "completed", ["maintenance completed"]),
        ("app2", ["--yes"], "completed", ["maintenance completed"]),
    ],
)
def test_start_maintenance_refuses_a_vm_advised_against_unless_told_so(
    arm: ArmStandIn, vm: str, flags: list[str], outcome: str, says: list[str]
) -> None:
    arm.fleet.add(
        FleetVm("sub-1", "rg-app", "nightly", auto_shutdown=True, maintenance=window_from(LATE))
    )
    target = next(one for one in arm.fleet.of("sub-1") if one.name == vm)
    result = forewarn(arm, "start-maintenance", target.id, *flags)
    [line] = result.stdout.splitlines()
    assert line.split("  ")[:2] == [outcome, target.id]
    for words in says:
        assert words in line
    started = outcome == "completed"
    assert arm.counts["maintain sub-1"] == (1 if started else 0)
    assert result.returncode == (0 if started else 1)


def test_vms_given_a_workspace_without_performance_data_then_says_so_once(arm: ArmStandIn) -> None:
    # GIVEN a Log Analytics workspace that holds no CPU data for the fleet's VMs
    with LogAnalyticsStandIn() as workspace:
        settings = {
            names.SETTING_LOG_ANALYTICS_WORKSPACE_ID: workspace.workspace_id,
            names.SETTING_LOG_ANALYTICS_ENDPOINT: workspace.base_url,
        }
        # WHEN the fleet is listed
        result = forewarn(arm, "vms", "--subscription", "sub-1", env=settings)
    # THEN one note, not one per VM, says what the quietest-hour hints need; the answer is
    # whole (exit 0): the note is about the hints, not about the VMs
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "no_performance_data" in line]
    assert len(said) == 1, result.stderr
    assert "VM insights" in said[0]
