"""What ``forewarn sweep`` and ``forewarn remind`` share: one pass of a wave timer by hand.

Both take the same options (``--subscription``, ``--now``, ``--dry-run``, ``--json``), stop on
the same errors with exit 2, and print a pass the same way (notes on stderr, one line a notice
or a JSON list on stdout, a count line on stderr). What differs is the pass itself and the
columns of a notice, so those come in as arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.enrich.errors import TRANSIENT_ERRORS, ArmAuthenticationError, EnrichError
from shared.render.text import plural
from shared.routing.config import RoutingConfigError
from shared.storage import StorageError
from shared.timeutil import InvalidTimestampError, parse_utc, utc_now
from shared.wave.report import PassReport, PlannedNotice


def add_pass_arguments(parser: argparse.ArgumentParser, subscriptions_by_default: str) -> None:
    parser.add_argument(
        "--subscription",
        action="append",
        metavar="ID",
        help=f"a subscription id (repeat for several; default: {subscriptions_by_default})",
    )
    parser.add_argument("--now", help="the time of the pass, ISO 8601 (default: now)")
    parser.add_argument(
        "--dry-run", action="store_true", help="read only: send nothing, write no record"
    )
    parser.add_argument("--json", action="store_true", help="the notices as a JSON list")


def run_pass(
    command: str, args: argparse.Namespace, one_pass: Callable[[datetime], PassReport | int]
) -> PassReport | int:
    """The pass at ``--now``, or the exit code when it stopped (each cause said on stderr).

    ``one_pass`` may itself answer an exit code (nothing to pass over)."""
    try:
        now = parse_utc(args.now) if args.now else utc_now()
    except InvalidTimestampError as error:
        print(f"forewarn {command}: --now: {error}", file=sys.stderr)
        return 2
    try:
        return one_pass(now)
    except ArmAuthenticationError as error:
        print(f"forewarn {command}: {error}", file=sys.stderr)
    except TRANSIENT_ERRORS as error:
        print(f"forewarn {command}: gave up: {error}", file=sys.stderr)
    except (EnrichError, RoutingConfigError, StorageError) as error:
        print(f"forewarn {command}: {error}", file=sys.stderr)
    return 2


def print_pass(
    report: PassReport,
    as_json: bool,
    *,
    as_document: Callable[[PlannedNotice], dict[str, Any]],
    columns: Callable[[PlannedNotice], list[str]],
    counted: str,
) -> None:
    """Notes on stderr; the notices (``columns`` a line, or ``as_document`` each in a JSON
    list) on stdout; then, unless JSON, ``counted`` and what was sent on stderr."""
    for note in report.notes:
        print(f"note: {note.code}: {note.message}", file=sys.stderr)
    if as_json:
        json.dump([as_document(notice) for notice in report.notices], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    verb = "would send" if report.dry_run else "sent"
    for notice in report.notices:
        receivers = ", ".join(notice.receivers) or (
            f"(silenced by {notice.silenced_by})" if notice.silenced_by else "(no receiver)"
        )
        print("  ".join([*columns(notice), notice.due or "-", receivers]))
    print(
        f"{counted}, "
        f"{plural(len(report.notices), 'notice')} {verb} in {plural(report.events, 'event')}, "
        f"{plural(report.arm_requests, 'ARM request')}",
        file=sys.stderr,
    )
