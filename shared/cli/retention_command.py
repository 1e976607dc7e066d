"""``forewarn retention``: one retention pass by hand, as the sweep timer runs it after a sweep.

Deletes what has expired in every table (shared/retention.py: how long each keeps its rows;
``FOREWARN_RETENTION_DAYS``, ``FOREWARN_AUDIT_RETENTION_DAYS``), a bounded batch per table,
and prints per table how many rows went (``maintenancerecords``: closed records moved to
``endedrecords``). ``--dry-run`` deletes and moves nothing and prints how many rows the pass
would delete; with ``--now`` it says so of a pass at that moment ("what goes next month").
``--json`` prints ``{"dry_run", "now", "tables": {table: rows}, "failed": [table, ...]}``.

Exit 0 done, 1 done but a table failed (named on stderr; the next pass tries it again), 2
stopped (a retention setting out of range, ``--now`` without ``--dry-run``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from shared.retention import RetentionSettingError, RetentionSettings, tidy
from shared.storage import StorageServices
from shared.timeutil import InvalidTimestampError, format_utc, parse_utc, utc_now


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "retention",
        help="one retention pass: each table's expired rows deleted (or, --dry-run, counted)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
    )
    parser.add_argument(
        "--now", help="with --dry-run: the moment of the pass, ISO 8601 (default: now)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.set_defaults(handler=run_retention)


def run_retention(args: argparse.Namespace) -> int:
    if args.now and not args.dry_run:
        # Rows deleted as of a moment that has not come would be rows still in use.
        print("forewarn retention: --now only with --dry-run", file=sys.stderr)
        return 2
    try:
        now = parse_utc(args.now) if args.now else utc_now()
        settings = RetentionSettings.from_settings(os.environ)
    except (InvalidTimestampError, RetentionSettingError) as error:
        print(f"forewarn retention: {error}", file=sys.stderr)
        return 2
    storage = StorageServices.from_settings(os.environ)
    report = tidy(storage.table, storage.payloads, now, settings, dry_run=args.dry_run)
    counts = {name: report.deleted.get(name, 0) for name in report.tables}
    if args.json:
        document = {
            "dry_run": report.dry_run,
            "now": format_utc(now),
            "tables": counts,
            "failed": report.failed,
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        verb = "would be deleted" if report.dry_run else "deleted"
        print(f"rows {verb} at {format_utc(now)}:")
        width = max(len(name) for name in counts)
        for name, count in counts.items():
            failed = "  (failed: left for the next pass)" if name in report.failed else ""
            print(f"  {name:<{width}}  {count}{failed}")
    for name in report.failed:
        print(f"forewarn retention: {name} could not be tidied", file=sys.stderr)
    return 1 if report.failed else 0
