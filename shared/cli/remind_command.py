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
import json
import os
import sys
from typing import Any

from shared.enrich.errors import TRANSIENT_ERRORS, ArmAuthenticationError, EnrichError
from shared.render.text import plural
from shared.routing.config import RoutingConfigError
from shared.routing.offsets import reminder_offsets_from
from shared.storage import StorageError
from shared.timeutil import (
    InvalidDurationError,
    InvalidTimestampError,
    format_utc,
    parse_duration,
    parse_utc,
    utc_now,
)
from shared.wave.runner import PassReport, PlannedNotice, WaveRunner


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "remind",
        help="one reminders pass: windows about to close or open, each VM read again",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--subscription",
        action="append",
        metavar="ID",
        help="a subscription id (repeat for several; default: every VM with a record)",
    )
    parser.add_argument("--now", help="the time of the pass, ISO 8601 (default: now)")
    parser.add_argument(
        "--dry-run", action="store_true", help="read only: send nothing, write no record"
    )
    parser.add_argument("--json", action="store_true", help="the notices as a JSON list")
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
    for note in report.notes:
        print(f"note: {note.code}: {note.message}", file=sys.stderr)
    if as_json:
        json.dump([reminder_json(notice) for notice in report.notices], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    verb = "would send" if report.dry_run else "sent"
    for notice in report.notices:
        receivers = ", ".join(notice.receivers) or (
            f"(silenced by {notice.silenced_by})" if notice.silenced_by else "(no receiver)"
        )
        kind = notice.reminder or notice.kind
        print(f"{kind}  {notice.vm_id}  {notice.advice}  {notice.due or '-'}  {receivers}")
    print(
        f"{plural(report.vms_seen, 'VM')} read again, "
        f"{plural(len(report.notices), 'notice')} {verb} in {plural(report.events, 'event')}, "
        f"{plural(report.arm_requests, 'ARM request')}",
        file=sys.stderr,
    )


def run_remind(args: argparse.Namespace) -> int:
    try:
        now = parse_utc(args.now) if args.now else utc_now()
    except InvalidTimestampError as error:
        print(f"forewarn remind: --now: {error}", file=sys.stderr)
        return 2
    try:
        runner = WaveRunner.from_settings(os.environ)
        report = runner.remind(
            now,
            reminder_offsets_from(os.environ),
            dry_run=args.dry_run,
            subscriptions=args.subscription,
        )
    except ArmAuthenticationError as error:
        print(f"forewarn remind: {error}", file=sys.stderr)
        return 2
    except TRANSIENT_ERRORS as error:
        print(f"forewarn remind: gave up: {error}", file=sys.stderr)
        return 2
    except (EnrichError, RoutingConfigError, StorageError) as error:
        print(f"forewarn remind: {error}", file=sys.stderr)
        return 2
    _print(report, args.json)
    return 1 if report.notes else 0
