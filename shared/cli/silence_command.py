"""``forewarn silence add|list|expire``: hold back messages about matching VMs for a while.

    forewarn silence add --match resource_group=rg-batch-*,tag.env=test --until 2030-03-20T00:00Z
    forewarn silence add --match vm=web-01,vm=web-02 --until 2030-03-20T00:00Z
    forewarn silence list [--all] [--json]
    forewarn silence expire ID

A silence holds matching VMs out of every message about them: Azure's own notices (the route
stage leaves them out, and the message says how many were held back, by which silence, until
when), the sweep's and the reminders'. A VM whose deadline passes before the silence ends is
still said once, saying so.

Matchers: ``subscription``, ``resource_group`` (glob), ``vm`` (glob), ``vm_id``,
``tracking_id``, ``tag.NAME`` (glob). Every key must hold; a key given twice holds when any of
its values does. ``add`` prints the new silence's id on stdout and, on stderr, how many of the
VMs forewarn follows (its records of open maintenance) it holds now. Silences are kept in the
``silences`` table of ``AzureWebJobsStorage``. Exit 0 done (``list`` with none prints "No
silences in force", with ``--all`` "No silences"), 2 bad input or storage unavailable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from shared import names
from shared.render.text import plural
from shared.storage import StorageError, StorageServices
from shared.timeutil import InvalidTimestampError, parse_utc, utc_now
from shared.wave.records import TableRecordStore
from shared.wave.silences import (
    Silence,
    SilenceError,
    TableSilenceStore,
    match_text,
    new_silence,
    parse_match,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "silence",
        help="hold back messages (Azure's notices, the sweep's, the reminders') about "
        "matching VMs or waves",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="add a silence")
    add.add_argument(
        "--match",
        required=True,
        help="key=value[,key=value…]; every key must hold, a repeated key any of its values",
    )
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
            _say_held(silence)
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
        return 0
    if not silences:
        print("No silences" + ("" if args.all else " in force"))
    for silence in silences:
        state = "active" if silence.active(now) else "ended"
        line = f"{silence.id}  {state}  until {silence.ends}  {match_text(silence.match)}"
        print(f"{line}  {silence.comment}".rstrip())
    return 0


def _say_held(silence: Silence) -> None:
    """How many of the VMs forewarn follows the new silence holds now (stderr: stdout is the
    id), so that a mistyped matcher shows at once."""
    storage = StorageServices.from_settings(os.environ)
    records = TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS)).all()
    followed = {record.vm_id.lower(): record for record in records if record.is_open}
    held = sorted(
        (
            record.vm.name
            for record in followed.values()
            if silence.matches(record.vm, record.tracking_id)
        ),
        key=str.lower,
    )
    print(held_line(held, len(followed)), file=sys.stderr)


def held_line(held: list[str], followed: int) -> str:
    """What ``add`` says it holds. The count comes from the maintenance records, the VMs
    forewarn follows, not from ARM: on a fresh install it follows none, and a VM with planned
    maintenance that no notice has named yet is not counted, so the line says whose count it
    is, and does not call a matcher wrong when there is nothing yet to match."""
    if not followed:
        return (
            "holds no VM forewarn follows now: it follows none with open maintenance yet;"
            " matching VMs are held from the first notice that names them"
        )
    of = f"of the {plural(followed, 'VM')} forewarn follows with open maintenance"
    if not held:
        return f"holds none {of} (check --match if you expected some)"
    shown = ", ".join(held[:10]) + (f" and {len(held) - 10} more" if len(held) > 10 else "")
    return f"holds {len(held)} {of}: {shown}"
