"""``forewarn silence add|list|expire``: hold back the sweep's and reminders' messages a while.

    forewarn silence add --match resource_group=rg-batch-*,tag.env=test --until 2030-03-20T00:00Z
    forewarn silence list [--all] [--json]
    forewarn silence expire ID

Matchers (all must hold): ``subscription``, ``resource_group`` (glob), ``vm`` (glob),
``vm_id``, ``tracking_id``, ``tag.NAME`` (glob). A notice whose deadline passes before the
silence ends is sent once anyway, saying so. Silences are kept in the ``silences`` table of
``AzureWebJobsStorage``. Exit 0 done, 1 nothing to list, 2 bad input or storage unavailable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from shared import names
from shared.storage import StorageError, StorageServices
from shared.timeutil import InvalidTimestampError, parse_utc, utc_now
from shared.wave.silences import SilenceError, TableSilenceStore, new_silence, parse_match


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "silence",
        help="hold back the sweep's and reminders' messages for matching VMs or waves",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="add a silence")
    add.add_argument("--match", required=True, help="key=value[,key=value…]")
    add.add_argument("--until", required=True, help="when it ends, ISO 8601")
    add.add_argument("--comment", default="", help="why (shown by list)")
    add.add_argument("--now", help="when it starts, ISO 8601 (default: now)")
    listing = actions.add_parser("list", help="silences in force (--all: every one)")
    listing.add_argument("--all", action="store_true", help="ended and expired ones too")
    listing.add_argument("--json", action="store_true", help="a JSON list")
    listing.add_argument("--now", help="the time to judge by, ISO 8601 (default: now)")
    expire = actions.add_parser("expire", help="end a silence now")
    expire.add_argument("silence_id", metavar="ID")
    expire.add_argument("--now", help="when it ends, ISO 8601 (default: now)")
    parser.set_defaults(handler=run_silence)


def _store() -> TableSilenceStore:
    storage = StorageServices.from_settings(os.environ)
    return TableSilenceStore(storage.table(names.TABLE_SILENCES))


def run_silence(args: argparse.Namespace) -> int:
    try:
        now = parse_utc(args.now) if args.now else utc_now()
        if args.action == "add":
            until = parse_utc(args.until)
            if until <= now:
                print("forewarn silence: --until is not in the future", file=sys.stderr)
                return 2
            silence = new_silence(parse_match(args.match), until, now, args.comment)
            _store().put(silence)
            print(silence.id)
            return 0
        if args.action == "expire":
            ended = _store().expire(args.silence_id, now)
            print(f"{ended.id} expired at {ended.expired_at}")
            return 0
        silences = _store().all() if args.all else _store().active(now)
    except (InvalidTimestampError, SilenceError, StorageError) as error:
        print(f"forewarn silence: {error}", file=sys.stderr)
        return 2
    if args.json:
        json.dump([silence.to_json() for silence in silences], sys.stdout, indent=2)
        sys.stdout.write("\n")
    for silence in [] if args.json else silences:
        match = ",".join(f"{key}={value}" for key, value in sorted(silence.match.items()))
        state = "active" if silence.active(now) else "ended"
        print(f"{silence.id}  {state}  until {silence.ends}  {match}  {silence.comment}".rstrip())
    return 0 if silences else 1
