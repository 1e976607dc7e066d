"""``forewarn remind``: one pass of the reminders timer by hand.

Works out the reminders due at ``--now`` (default: now) from the maintenance records, at every
offset ``FOREWARN_REMINDER_OFFSETS`` or a receiver's own ``reminders:`` names, reads each VM
again (a VM found done, gone or rescheduled gets that notice instead of a reminder) and routes
them through the routing file (``FOREWARN_CONFIG``) onto the ``enriched`` queue, as the timer
does. ``--subscription`` keeps to those subscriptions' VMs (default: every record's).

``--dry-run`` reads but sends and writes nothing; with ``--json`` it prints one entry per
notice: ``kind`` (a reminder's offset, e.g. ``self_service-72h``; else the notice sent instead:
``completed``, ``gone``, ``rescheduled``), ``vm_id``, ``advice``, ``deadline`` (the window end
or start it is about), ``receivers``, ``due`` (when the reminder fell due: the deadline minus
its offset), ``tracking_id``, ``event_id``, ``silenced_by``.

Exit 0 done, 1 done with notes (a VM that could not be read; on stderr), 2 stopped (bad input,
ARM or storage unavailable, no routing file).
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from typing import Any

from shared.cli.wave_pass import add_pass_arguments, print_pass, run_pass
from shared.render.text import plural
from shared.routing.offsets import reminder_offsets_from
from shared.timeutil import InvalidDurationError, format_utc, parse_duration, parse_utc
from shared.wave.report import PassReport, PlannedNotice
from shared.wave.runner import WaveRunner


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "remind",
        help="one reminders pass: windows about to close or open, each VM read again",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pass_arguments(parser, "every VM with a record")
    parser.set_defaults(handler=run_remind)


def _fell_due(notice: PlannedNotice) -> str | None:
    """When a reminder fell due: its deadline minus the offset its label names."""
    if notice.reminder is None or notice.due is None:
        return None
    try:
        offset = parse_duration(notice.reminder.rsplit("-", 1)[-1])
    except InvalidDurationError:
        return None
    return format_utc(parse_utc(notice.due) - offset)


def reminder_json(notice: PlannedNotice) -> dict[str, Any]:
    return {
        "kind": notice.reminder or notice.kind,
        "vm_id": notice.vm_id,
        "advice": notice.advice,
        "deadline": notice.due,
        "receivers": notice.receivers,
        "due": _fell_due(notice),
        "tracking_id": notice.tracking_id,
        "event_id": notice.event_id,
        "silenced_by": notice.silenced_by,
    }


def _print(report: PassReport, as_json: bool) -> None:
    print_pass(
        report,
        as_json,
        as_document=reminder_json,
        columns=lambda notice: [notice.reminder or notice.kind, notice.vm_id, f"{notice.advice}"],
        counted=f"{plural(report.vms_seen, 'VM')} read again",
    )


def run_remind(args: argparse.Namespace) -> int:
    def one_pass(now: datetime) -> PassReport:
        runner = WaveRunner.from_settings(os.environ)
        return runner.remind(
            now,
            reminder_offsets_from(os.environ),
            dry_run=args.dry_run,
            subscriptions=args.subscription,
        )

    report = run_pass("remind", args, one_pass)
    if isinstance(report, int):
        return report
    _print(report, args.json)
    return 1 if report.notes else 0
