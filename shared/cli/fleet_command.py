"""``forewarn vms``, ``forewarn plan``, ``forewarn start-maintenance``: a whole fleet at once.

What ``az vm get-instance-view`` and ``az vm perform-maintenance`` do for one VM, for every VM
of one or more subscriptions. ARM is reached as the Function reaches it: ``FOREWARN_ARM_TOKEN``
(e.g. from ``az account get-access-token``) or azure-identity, at ``FOREWARN_ARM_ENDPOINT``.

Notes (a VM deleted meanwhile, a subscription without read permission) go to stderr, one line
each, and the command goes on. Exit 0 success, 1 a partial result or nothing to do, 2 stopped
(bad credentials, throttled or unavailable after all retries; for ``start-maintenance``, an
update domain had a failure and the later ones were not started).

``vms`` lists by self-service window end (the deadline), then scheduled window start, then
name. ``plan`` prints each step with the ``forewarn start-maintenance`` line that starts it.
``start-maintenance`` goes one plan step at a time (update domain for sets, zone, the
``forewarn-group`` tag, else one VM), waits ``--gap-minutes`` between steps, and prints one line
per VM, ``OUTCOME  VM_ID  MESSAGE``, each step's lines once all its VMs have ended. A VM whose
advice is not "start it yourself" (an auto-shutdown schedule, an availability or scale set,
...) is ``advised_against``, with the reasons, and not started unless ``--against-advice``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from shared import names
from shared.enrich.errors import TRANSIENT_ERRORS, ArmAuthenticationError, EnrichError
from shared.enrich.maintenance import start_maintenance
from shared.enrich.pipeline import survey_fleet
from shared.enrich.plan import (
    PlanSettings,
    plan_heading,
    plan_maintenance,
    step_az_commands,
    step_command,
    step_label,
)
from shared.enrich.services import EnrichmentServices, plan_settings_from
from shared.loganalytics.quietest import INFORMATIONAL_NOTES
from shared.models import EnrichmentNote, VirtualMachine
from shared.timeutil import format_utc, parse_utc


def register(subparsers: Any) -> None:
    vms = _add(
        subparsers,
        "vms",
        "every VM with planned maintenance, by self-service window end, then scheduled start",
        run_vms,
    )
    _subscriptions(vms)
    vms.add_argument("--json", action="store_true", help="a JSON list instead of a table")

    plan = _add(subparsers, "plan", "the proposed self-service steps, one at a time", run_plan)
    _subscriptions(plan)
    plan.add_argument(
        "--gap-minutes",
        type=int,
        default=PlanSettings.gap_minutes,
        help="pause between steps (default: %(default)s)",
    )
    plan.add_argument(
        "--step-minutes",
        type=int,
        default=PlanSettings.step_minutes,
        help="time given to one step (default: %(default)s)",
    )
    plan.add_argument(
        "--lead-minutes",
        type=int,
        default=None,
        help=f"no step starts sooner (default: {names.SETTING_PLAN_LEAD_MINUTES}, else "
        f"{PlanSettings.lead_minutes})",
    )
    plan.add_argument("--json", action="store_true", help="the plan as JSON")

    start = _add(
        subparsers,
        "start-maintenance",
        "start self-service maintenance where Azure allows it now",
        run_start,
    )
    start.add_argument("vm_ids", nargs="+", metavar="VM_ID", help="full VM resource ids")
    start.add_argument(
        "--yes", action="store_true", help="really start it (without: only say what would happen)"
    )
    start.add_argument(
        "--against-advice",
        action="store_true",
        help="also start VMs whose advice is not 'start it yourself' (auto-shutdown, "
        "availability or scale set, ...); without it they are refused with the reason",
    )
    start.add_argument(
        "--gap-minutes",
        type=float,
        default=PlanSettings.gap_minutes,
        help="wait between one step's end and the next step (default: %(default)s)",
    )


def _add(subparsers: Any, name: str, text: str, handler: Callable[..., int]) -> Any:
    parser = subparsers.add_parser(
        name,
        help=text,
        description=f"{text}.\n\n{__doc__}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def _subscriptions(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subscription",
        action="append",
        required=True,
        metavar="ID",
        help="a subscription id (repeat for several)",
    )


def _services() -> EnrichmentServices:
    return EnrichmentServices.create(os.environ)


def _stopping(command: str, run: Callable[[], int]) -> int:
    """Run a command; errors that stop it become one line on stderr and exit 2."""
    try:
        return run()
    except ArmAuthenticationError as error:
        print(f"forewarn {command}: {error}", file=sys.stderr)
    except TRANSIENT_ERRORS as error:
        print(f"forewarn {command}: gave up: {error}", file=sys.stderr)
    except EnrichError as error:
        print(f"forewarn {command}: {error}", file=sys.stderr)
    return 2


def _partial(notes: Sequence[EnrichmentNote]) -> bool:
    """Exit 1 means a partial answer: a note about the VMs, not one only about the hints."""
    return any(note.code not in INFORMATIONAL_NOTES for note in notes)


def _print_notes(notes: Sequence[EnrichmentNote]) -> None:
    for note in notes:
        print(f"note: {note.code}: {note.message}", file=sys.stderr)


def _window(vm: VirtualMachine, which: str) -> str:
    if vm.maintenance is None:
        return "-"
    window = getattr(vm.maintenance, which)
    return f"{window.start or '?'} to {window.end or '?'}"


_LAST = datetime.max.isoformat()


def window_order(vm: VirtualMachine) -> tuple[str, str, str, str]:
    """Self-service window end (the deadline) first, then scheduled start, then name; VMs
    without a window last. Times are normalised UTC strings, so they sort as text."""
    status = vm.maintenance
    ends = (status.self_service_window.end if status else None) or _LAST
    scheduled = (status.scheduled_window.start if status else None) or _LAST
    return (ends, scheduled, vm.name.lower(), vm.id.lower())


def _table(vms: Sequence[VirtualMachine]) -> None:
    header = (
        "NAME",
        "RESOURCE GROUP",
        "LOCATION",
        "POWER",
        "UD",
        "FD",
        "SELF-SERVICE WINDOW",
        "SCHEDULED WINDOW",
        "NOW?",
        "ADVICE",
    )
    rows = [header] + [
        (
            vm.name,
            vm.resource_group,
            vm.location,
            vm.power_state or "?",
            "-" if vm.update_domain is None else str(vm.update_domain),
            "-" if vm.fault_domain is None else str(vm.fault_domain),
            _window(vm, "self_service_window"),
            _window(vm, "scheduled_window"),
            "yes" if vm.maintenance and vm.maintenance.self_service_allowed else "no",
            vm.advice.action,
        )
        for vm in vms
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def run_vms(args: argparse.Namespace) -> int:
    def run() -> int:
        survey = survey_fleet(args.subscription, _services())
        _print_notes(survey.notes)
        vms = sorted(survey.vms, key=window_order)
        if args.json:
            json.dump([vm.to_json() for vm in vms], sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            _table(vms)
        return 1 if _partial(survey.notes) else 0

    return _stopping("vms", run)


def run_plan(args: argparse.Namespace) -> int:
    def run() -> int:
        services = _services()
        survey = survey_fleet(args.subscription, services)
        _print_notes(survey.notes)
        lead = plan_settings_from(os.environ)
        settings = PlanSettings(
            gap_minutes=args.gap_minutes,
            step_minutes=args.step_minutes,
            lead_minutes=lead.lead_minutes if args.lead_minutes is None else args.lead_minutes,
        )
        now = services.clock()
        plan = plan_maintenance(survey.vms, now, settings)
        if plan is None:
            print("no VM should self-serve: nothing to plan", file=sys.stderr)
            return 1
        if args.json:
            json.dump(asdict(plan), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            vm_names = {vm.id: vm.name for vm in survey.vms}
            heading = plan_heading([parse_utc(step.start) for step in plan.steps])
            print(
                f"Plan: {heading}. One step at a time: {plan.step_minutes} minutes each, the "
                f"next {plan.gap_minutes} minutes later or at its quietest hour (steps at least "
                f"{plan.spacing_minutes} minutes apart)"
            )
            # Why a message's plan can differ: it was made when its notice arrived.
            print(
                f"Planned at {format_utc(now)} for the VMs of these subscriptions advised to "
                "start themselves. A message shows the plan made when its notice arrived, for "
                "the VMs it names; with the same VMs, time and settings it is this plan."
            )
            for step in plan.steps:
                members = ", ".join(vm_names.get(vm_id, vm_id) for vm_id in step.vm_ids)
                print(f"{step.order}. {step_label(step)}: {step.start} to {step.end}: {members}")
                print(f"   {step_command(step)}")
                for line in step_az_commands(step):
                    print(f"   {line}")
            for warning in plan.warnings:
                print(f"warning: {warning}")
        return 1 if _partial(survey.notes) else 0

    return _stopping("plan", run)


def run_start(args: argparse.Namespace) -> int:
    def run() -> int:
        partial = False
        not_started: list[str] = []
        outcomes = start_maintenance(
            args.vm_ids,
            _services(),
            confirm=args.yes,
            against_advice=args.against_advice,
            gap_seconds=args.gap_minutes * 60,
        )
        for outcome in outcomes:
            print(f"{outcome.outcome}  {outcome.vm_id}  {outcome.message}", flush=True)
            partial |= outcome.outcome in ("skipped", "advised_against", "failed")
            if outcome.outcome == "not_started":
                not_started.append(outcome.message)
        if not_started:
            print(
                f"forewarn start-maintenance: stopped: {len(not_started)} VM(s) "
                f"{not_started[0].removeprefix('not started: ')}",
                file=sys.stderr,
            )
            return 2
        return 1 if partial else 0

    return _stopping("start-maintenance", run)
