"""``forewarn catch-up [--since ISO-8601] [--dry-run] [--json]``: one catch-up pass by hand.

Reads the Log Analytics workspace (``FOREWARN_LOG_ANALYTICS_WORKSPACE_ID``) for Service Health
and Resource Health notices since the stored checkpoint (or ``--since``), lists each with what
forewarn knows of it (received, recovered earlier, missing, ignored, invalid), and queues the
missing ones on ``events`` marked recovered, as the hourly timer does. ``--dry-run`` lists
without queueing or moving the checkpoint.

Exit codes: 0 the pass ran in full, 1 it ran with notes (a partial or failed query, an event
not queued), 2 not configured or storage unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any

from shared import names
from shared.loganalytics.catchup import CatchUp, CatchUpReport
from shared.storage import StorageError
from shared.timeutil import parse_utc


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "catch-up",
        help="find notices the webhook never brought (Log Analytics) and send them on",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--since", type=_moment, help="start here instead of the checkpoint")
    parser.add_argument("--dry-run", action="store_true", help="list only; queue nothing")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.set_defaults(handler=run)


def _moment(text: str) -> datetime:
    try:
        return parse_utc(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


def run(args: argparse.Namespace) -> int:
    try:
        runner = CatchUp.from_settings(os.environ)
    except StorageError as error:
        print(f"forewarn catch-up: {error}", file=sys.stderr)
        return 2
    if runner is None:
        print(
            f"forewarn catch-up: no workspace and Resource Graph off: set "
            f"{names.SETTING_LOG_ANALYTICS_WORKSPACE_ID}, or {names.SETTING_RESOURCE_GRAPH}=on",
            file=sys.stderr,
        )
        return 2
    report = runner.run(since=args.since, dry_run=args.dry_run)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print(report)
    return 1 if report.notes else 0


def _print(report: CatchUpReport) -> None:
    mode = " (dry run)" if report.dry_run else ""
    if not report.read:
        print(
            f"catch-up {report.since} .. {report.until}{mode}: not read, the query failed; "
            "checkpoint kept"
        )
        for note in report.notes:
            print(f"note: {note}")
        return
    print(f"catch-up {report.since} .. {report.until}{mode}: {len(report.findings)} found")
    for finding in report.findings:
        what = finding.verdict + (", queued" if finding.queued else "")
        ident = finding.event_id or "-"
        reason = f"  ({finding.reason})" if finding.reason else ""
        print(f"  {what:<18} {finding.time or '-':<21} {ident}  {finding.title[:70]}{reason}")
    print(
        f"{len(report.missing)} missing, {len(report.queued)} queued; checkpoint "
        + ("moved" if report.checkpoint_advanced else "kept")
    )
    for note in report.notes:
        print(f"note: {note}")
