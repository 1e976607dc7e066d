"""``forewarn claim|unclaim|snooze``: say who has a VM (or a wave), and hold its reminders.

    forewarn claim VM --by Alice [--receiver ops-email]
    forewarn claim --wave TRACKING_ID --by Alice --receiver ops-email
    forewarn unclaim VM | --wave TRACKING_ID [--receiver R]
    forewarn snooze VM --for 24h
    forewarn snooze VM --clear            (its reminders go out again as due)
    forewarn claim --list [--json]       (the claims, and the snoozes still running)

VM is a VM's resource id, or its name when forewarn's records know exactly one VM of that
name. Once a VM is claimed for a receiver, its reminders go to that receiver only, and every
message about it says who has it ("sql-02: claimed by Alice"). A wave claim holds for every VM
of the wave that reaches the receiver, unless the VM has a claim of its own. A claim without
``--receiver`` names the owner and changes nobody's reminders.

``snooze`` holds the VM's reminders back for a while, but never past the last reminder before
its deadline: that one goes out on time.

Claims live in the ``claims`` table of ``AzureWebJobsStorage``. Exit 0 done, 2 bad input,
nothing to unclaim, or storage unavailable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any

from shared import names
from shared.parsing.resource_id import parse_vm_id
from shared.routing.config import RoutingConfigError, config_path, load_config
from shared.storage import StorageError, StorageServices
from shared.timeutil import (
    InvalidDurationError,
    InvalidTimestampError,
    format_utc,
    parse_duration,
    parse_utc,
    utc_now,
)
from shared.wave.claims import ClaimError, ClaimInputError, ClaimStore
from shared.wave.records import TableRecordStore
from shared.wave.report import PassReport
from shared.wave.runner import resolve_claimed_now


def register(subparsers: Any) -> None:
    claim = subparsers.add_parser(
        "claim",
        help="say who has a VM or a wave: its reminders then reach the owner's receiver only",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    claim.add_argument("vm", nargs="?", metavar="VM", help="resource id or name")
    claim.add_argument("--wave", metavar="TRACKING_ID", help="claim a whole wave")
    claim.add_argument("--by", help="who has it")
    claim.add_argument("--receiver", help="the receiver (routing file) the owner reads")
    claim.add_argument("--list", action="store_true", help="the claims in force")
    claim.add_argument("--json", action="store_true", help="with --list: a JSON list")
    claim.add_argument("--now", help="ISO 8601 (default: now)")
    claim.set_defaults(handler=run_claim)

    unclaim = subparsers.add_parser(
        "unclaim", help="end a claim: reminders reach every receiver again"
    )
    unclaim.add_argument("vm", nargs="?", metavar="VM", help="resource id or name")
    unclaim.add_argument("--wave", metavar="TRACKING_ID", help="end a wave's claims")
    unclaim.add_argument("--receiver", help="with --wave: only this receiver's claim")
    unclaim.set_defaults(handler=run_unclaim)

    snooze = subparsers.add_parser(
        "snooze", help="hold a VM's reminders back (never past the last one before a deadline)"
    )
    snooze.add_argument("vm", metavar="VM", help="resource id or name")
    how = snooze.add_mutually_exclusive_group(required=True)
    how.add_argument("--for", dest="duration", help="e.g. 24h, 90m, 2d")
    how.add_argument("--clear", action="store_true", help="end the snooze now")
    snooze.add_argument("--now", help="ISO 8601 (default: now)")
    snooze.set_defaults(handler=run_snooze)


def _storage() -> StorageServices:
    return StorageServices.from_settings(os.environ)


def _store(storage: StorageServices) -> ClaimStore:
    return ClaimStore(storage.table(names.TABLE_CLAIMS))


def resolve_vm(text: str, storage: StorageServices) -> str:
    """A resource id as given, or the id of the one recorded VM with that name."""
    if parse_vm_id(text) is not None:
        return text
    records = TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS)).all()
    found = sorted({r.vm_id for r in records if r.vm.name.lower() == text.strip().lower()})
    if len(found) == 1:
        return found[0]
    if not found:
        raise ClaimInputError(f"no VM named {text!r} in forewarn's records; give its resource id")
    raise ClaimInputError(f"{len(found)} VMs are named {text!r}; give one of: {', '.join(found)}")


def _note_unknown_receiver(receiver: str) -> None:
    """A claim for a receiver the routing file lacks is kept (it names the owner), but a typo
    would otherwise look like it worked while every receiver keeps getting the reminders."""
    try:
        config = load_config(config_path(os.environ))
    except RoutingConfigError:
        return  # no routing file to compare with: nothing to say
    if receiver in config.receivers:
        return
    print(
        f"forewarn claim: note: the routing file has no receiver named {receiver!r} (it has: "
        f"{', '.join(sorted(config.receivers))}): the claim names the owner but changes "
        "nobody's reminders",
        file=sys.stderr,
    )


def _fail(command: str, error: Exception) -> int:
    print(f"forewarn {command}: {error}", file=sys.stderr)
    return 2


def run_claim(args: argparse.Namespace) -> int:
    try:
        storage = _storage()
        store = _store(storage)
        now = parse_utc(args.now) if args.now else utc_now()
        if args.list:
            return _list(store, as_json=args.json, now=now)
        if (args.vm is None) == (args.wave is None):
            raise ClaimInputError("name a VM or --wave TRACKING_ID (one of them)")
        if args.by is None:
            raise ClaimInputError("say who has it: --by NAME")
        if args.wave is not None:
            if not args.receiver:
                raise ClaimInputError("a wave is claimed for a receiver: add --receiver")
            claim = store.claim_wave(args.wave, args.by, args.receiver, now)
            print(f"wave {claim.key}: claimed by {claim.by} for {claim.receiver}")
            _note_unknown_receiver(args.receiver)
            _resolved(resolve_claimed_now(os.environ, storage, now, wave=claim.key))
            return 0
        claim = store.claim_vm(resolve_vm(args.vm, storage), args.by, args.receiver, now)
    except (ClaimError, InvalidTimestampError, StorageError) as error:
        return _fail("claim", error)
    if claim.receiver:
        _note_unknown_receiver(claim.receiver)
    where = f" for {claim.receiver}" if claim.receiver else " (no --receiver: reminders unchanged)"
    print(f"{claim.key}: claimed by {claim.by}{where}")
    _resolved(resolve_claimed_now(os.environ, storage, now, vm_id=claim.key))
    return 0


def _resolved(report: PassReport | None) -> None:
    """Say which escalations the claim resolved at once (none open: nothing to say)."""
    if report is None:
        print(
            "forewarn claim: note: the escalation, if any, is resolved by the next reminders pass",
            file=sys.stderr,
        )
    elif report.notices:
        named = ", ".join(n.vm_id.rsplit("/", 1)[-1] for n in report.notices)
        print(f"escalation resolved now: {named}")


def _list(store: ClaimStore, as_json: bool, now: datetime) -> int:
    """The claims, then the snoozes still running."""
    claims = store.claims()
    snoozes = sorted((vm, until) for vm, until in store.ownership().snoozes.items() if until > now)
    if as_json:
        listed: list[dict[str, Any]] = [claim.to_json() for claim in claims]
        listed += [{"subject": "snooze", "key": vm, "until": format_utc(u)} for vm, u in snoozes]
        json.dump(listed, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not claims and not snoozes:
        print("No claims")
    for claim in claims:
        receiver = claim.receiver or "-"
        print(f"{claim.subject}  {claim.key}  {claim.by}  {receiver}  since {claim.at}")
    for vm, until in snoozes:
        print(f"snooze  {vm}  until {format_utc(until)}")
    return 0


def run_unclaim(args: argparse.Namespace) -> int:
    try:
        storage = _storage()
        store = _store(storage)
        if (args.vm is None) == (args.wave is None):
            raise ClaimInputError("name a VM or --wave TRACKING_ID (one of them)")
        if args.wave is not None:
            for claim in store.unclaim_wave(args.wave, args.receiver):
                print(f"wave {claim.key}: {claim.by}'s claim for {claim.receiver} ended")
            return 0
        claim = store.unclaim_vm(resolve_vm(args.vm, storage))
    except (ClaimError, StorageError) as error:
        return _fail("unclaim", error)
    print(f"{claim.key}: {claim.by}'s claim ended")
    return 0


def run_snooze(args: argparse.Namespace) -> int:
    if args.clear:
        return _unsnooze(args.vm)
    try:
        now = parse_utc(args.now) if args.now else utc_now()
        duration = parse_duration(args.duration)
        if duration.total_seconds() <= 0:
            raise ClaimInputError("--for must be longer than 0")
        storage = _storage()
        vm_id = resolve_vm(args.vm, storage)
        until = now + duration
        _store(storage).snooze(vm_id, until)
    except (ClaimError, InvalidDurationError, InvalidTimestampError, StorageError) as error:
        return _fail("snooze", error)
    print(
        f"{vm_id.lower()}: reminders held until {format_utc(until)} "
        "(the last one before a deadline still goes out on time)"
    )
    return 0


def _unsnooze(vm: str) -> int:
    try:
        storage = _storage()
        vm_id = resolve_vm(vm, storage)
        until = _store(storage).unsnooze(vm_id)
    except (ClaimError, StorageError) as error:
        return _fail("snooze", error)
    if until is None:
        print(f"{vm_id.lower()}: no snooze to clear; its reminders go out as due")
    else:
        print(f"{vm_id.lower()}: snooze until {format_utc(until)} cleared; reminders go out as due")
    return 0
