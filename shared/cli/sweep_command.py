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
import os
import sys
from datetime import datetime
from typing import Any

from shared import names
from shared.cli.wave_pass import add_pass_arguments, print_pass, run_pass
from shared.loganalytics.quietest import INFORMATIONAL_NOTES
from shared.render.text import plural
from shared.wave.report import PassReport
from shared.wave.runner import WaveRunner, watched_subscriptions


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="one sweep pass: VMs added mid-wave, rescheduled, completed or deleted",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pass_arguments(parser, "every watched subscription")
    parser.set_defaults(handler=run_sweep)


def _print(report: PassReport, as_json: bool) -> None:
    print_pass(
        report,
        as_json,
        as_document=lambda notice: notice.to_json(),
        columns=lambda notice: [notice.kind, notice.vm_id],
        counted=(
            f"{plural(len(report.subscriptions), 'subscription')}, "
            f"{plural(report.vms_seen, 'VM')} with maintenance"
        ),
    )


def run_sweep(args: argparse.Namespace) -> int:
    def one_pass(now: datetime) -> PassReport | int:
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
        return runner.sweep(subscriptions, now, dry_run=args.dry_run, known=known)

    report = run_pass("sweep", args, one_pass)
    if isinstance(report, int):
        return report
    _print(report, args.json)
    # Exit 1 is "done with notes" about VMs or subscriptions; a note only about the
    # quietest-hour hints does not make a pass partial.
    return 1 if any(n.code not in INFORMATIONAL_NOTES for n in report.notes) else 0
