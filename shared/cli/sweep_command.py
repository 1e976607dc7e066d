"""``forewarn sweep``: one pass of the sweep by hand.

Re-reads the instance views of the subscriptions given (default: those that had notices plus
``FOREWARN_SWEEP_SUBSCRIPTIONS``), compares each VM with its maintenance record and routes what
changed (``vm_added``, ``rescheduled``, ``completed``, ``gone``) through the routing file
(``FOREWARN_CONFIG``) onto the ``enriched`` queue, as the timer does. Records are in
``AzureWebJobsStorage``; ARM is reached as ``forewarn vms`` reaches it.

``--dry-run`` reads but sends and writes nothing; with ``--json`` it prints the notices it
would send: ``kind``, ``vm_id``, ``tracking_id``, ``receivers``, ``due``. ``--now`` sets the
time the pass believes it is (ISO 8601), so a wave can be replayed on a fake clock.

Exit 0 done, 1 done with notes (a VM or subscription that could not be read; on stderr),
2 stopped (bad input, ARM or storage unavailable, no routing file).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from shared import names
from shared.enrich.errors import TRANSIENT_ERRORS, ArmAuthenticationError, EnrichError
from shared.loganalytics.quietest import INFORMATIONAL_NOTES
from shared.render.text import plural
from shared.routing.config import RoutingConfigError
from shared.storage import StorageError
from shared.timeutil import InvalidTimestampError, parse_utc, utc_now
from shared.wave.runner import PassReport, WaveRunner, watched_subscriptions


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="one sweep pass: VMs added mid-wave, rescheduled, completed or deleted",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--subscription",
        action="append",
        metavar="ID",
        help="a subscription id (repeat for several; default: every watched subscription)",
    )
    parser.add_argument("--now", help="the time of the pass, ISO 8601 (default: now)")
    parser.add_argument(
        "--dry-run", action="store_true", help="read only: send nothing, write no record"
    )
    parser.add_argument("--json", action="store_true", help="the notices as a JSON list")
    parser.set_defaults(handler=run_sweep)


def _print(report: PassReport, as_json: bool) -> None:
    for note in report.notes:
        print(f"note: {note.code}: {note.message}", file=sys.stderr)
    if as_json:
        json.dump([notice.to_json() for notice in report.notices], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    verb = "would send" if report.dry_run else "sent"
    for notice in report.notices:
        receivers = ", ".join(notice.receivers) or (
            f"(silenced by {notice.silenced_by})" if notice.silenced_by else "(no receiver)"
        )
        print(f"{notice.kind}  {notice.vm_id}  {notice.due or '-'}  {receivers}")
    print(
        f"{plural(len(report.subscriptions), 'subscription')}, "
        f"{plural(report.vms_seen, 'VM')} with maintenance, "
        f"{plural(len(report.notices), 'notice')} {verb} in {plural(report.events, 'event')}, "
        f"{plural(report.arm_requests, 'ARM request')}",
        file=sys.stderr,
    )


def run_sweep(args: argparse.Namespace) -> int:
    try:
        now = parse_utc(args.now) if args.now else utc_now()
    except InvalidTimestampError as error:
        print(f"forewarn sweep: --now: {error}", file=sys.stderr)
        return 2
    try:
        runner = WaveRunner.from_settings(os.environ)
        # Without --subscription every record is read once: for the subscriptions and the sweep.
        known = None if args.subscription else list(runner.records.all())
        subscriptions = args.subscription or watched_subscriptions(known or [], os.environ)
        if not subscriptions:
            # A fresh world or deployment: the sweep follows what notices named, so say how
            # to give it subscriptions before any notice came.
            print(
                "forewarn sweep: no subscription to sweep: no notice has named a VM yet; give "
                f"--subscription ID or set {names.SETTING_SWEEP_SUBSCRIPTIONS}",
                file=sys.stderr,
            )
            if args.json:
                print("[]")
            return 1
        report = runner.sweep(subscriptions, now, dry_run=args.dry_run, known=known)
    except ArmAuthenticationError as error:
        print(f"forewarn sweep: {error}", file=sys.stderr)
        return 2
    except TRANSIENT_ERRORS as error:
        print(f"forewarn sweep: gave up: {error}", file=sys.stderr)
        return 2
    except (EnrichError, RoutingConfigError, StorageError) as error:
        print(f"forewarn sweep: {error}", file=sys.stderr)
        return 2
    _print(report, args.json)
    # Exit 1 is "done with notes" about VMs or subscriptions; a note only about the
    # quietest-hour hints does not make a pass partial.
    return 1 if any(n.code not in INFORMATIONAL_NOTES for n in report.notes) else 0
