"""``forewarn deadletter list [--json]`` and ``forewarn deadletter replay [ID…]``.

Dead letters are delivery jobs that failed permanently or ran out of retries. ``list`` shows
them oldest first with their reason (targets masked); ``replay`` puts them back on their
channel's queue with a fresh attempt count, after the receiver has been fixed. Without IDs,
``replay`` takes every dead letter not replayed yet. Storage comes from ``AzureWebJobsStorage``.

Exit codes: 0 done, 1 nothing to replay or some were already delivered, 2 unknown id or
storage unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from shared.delivery.deadletters import UnknownDeadLetterError, list_dead_letters, replay
from shared.storage import StorageError, StorageServices


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "deadletter",
        help="list or replay undeliverable messages",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="deadletter_command", metavar="ACTION")
    commands.required = True
    listing = commands.add_parser("list", help="show dead letters, oldest first")
    listing.add_argument("--json", action="store_true", help="one JSON document on stdout")
    listing.set_defaults(handler=run_list)
    replaying = commands.add_parser("replay", help="send dead letters again")
    replaying.add_argument("ids", nargs="*", metavar="ID", help="dead-letter ids (default: all)")
    replaying.set_defaults(handler=run_replay)


def _storage() -> StorageServices:
    return StorageServices.from_settings(os.environ)


def run_list(args: argparse.Namespace) -> int:
    try:
        letters = list_dead_letters(_storage())
    except StorageError as error:
        print(f"forewarn deadletter: {error}", file=sys.stderr)
        return 2
    summaries = [letter.summary() for letter in letters]
    if args.json:
        json.dump(summaries, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if not summaries:
        print("no dead letters")
        return 0
    for item in summaries:
        replayed = f"  replayed {item['replayed_at']}" if item["replayed_at"] else ""
        print(
            f"{item['id']}  {item['channel']:<7} {item['receiver']}  event {item['event_id']}  "
            f"attempts {item['attempts']}{replayed}\n    {item['reason']}"
        )
    return 0


def run_replay(args: argparse.Namespace) -> int:
    try:
        results = replay(_storage(), list(args.ids))
    except UnknownDeadLetterError as error:
        print(f"forewarn deadletter: {error}", file=sys.stderr)
        return 2
    except StorageError as error:
        print(f"forewarn deadletter: {error}", file=sys.stderr)
        return 2
    if not results:
        print("nothing to replay")
        return 1
    for result in results:
        print(f"{result.id}  {result.note}  ({result.queue})")
    return 0 if all(result.replayed for result in results) else 1
