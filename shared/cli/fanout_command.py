"""``forewarn config validate``, ``forewarn route`` and ``forewarn render``: the fan-out, dry.

    forewarn config validate FILE          every problem with its line and JSON pointer; exit 2;
                                           warnings for placeholder (example.com) targets
    forewarn route --event FILE            which receivers an event reaches, with which VMs, why
    forewarn render --event FILE --channel NAME [--receiver NAME] [--html OUT]
                                           what would be sent; --html writes a preview page of
                                           every channel's message

``--event`` takes an EnrichedEvent (``forewarn enrich`` output), or a MaintenanceEvent
(``forewarn parse`` output) for a notice about no VMs; a parsed notice about VMs is refused with
the ``forewarn enrich`` command that reads them. Commands that need the routing file read
``--config`` (default: the ``FOREWARN_CONFIG`` setting); ``render`` works without one, and for
a channel no receiver of the file gets, rendering for a stand-in receiver in UTC (and saying so).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from shared import names
from shared.enrich.pipeline import is_about_vms
from shared.models import (
    EnrichedEvent,
    MaintenanceEvent,
    Receiver,
    RenderedMessage,
    VirtualMachine,
)
from shared.render import RENDERERS, render_message
from shared.render.held import HELD_CODE
from shared.render.preview import build_preview
from shared.routing.checks import placeholder_warnings
from shared.routing.config import (
    ConfigInvalidError,
    ConfigNotFoundError,
    RoutingConfigError,
    load_config,
)
from shared.routing.grouping import (
    ReceiverGroup,
    group_event,
    notes_for,
    subscription_note_readers,
    vm_note_readers,
)
from shared.routing.matcher import EVENT_SUBJECT
from shared.routing.rules import RoutingConfig
from shared.routing.silencing import Judged, SilenceGate
from shared.storage import StorageError, StorageServices
from shared.timeutil import parse_utc, utc_now


class EventFileError(Exception):
    """The event file is unreadable or neither a MaintenanceEvent nor an EnrichedEvent."""


def register(subparsers: Any) -> None:
    config = subparsers.add_parser("config", help="routing file commands")
    config_commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    config_commands.required = True
    validate = config_commands.add_parser(
        "validate", help="check a routing file; print every problem with its location"
    )
    validate.add_argument("file", help="the routing YAML file")
    validate.set_defaults(handler=run_validate)

    route = subparsers.add_parser(
        "route",
        help="show which receivers an event reaches and why",
        description=(
            "Which receivers of the routing file an event reaches, with which VMs and by which "
            "route. --event takes an EnrichedEvent (from `forewarn enrich --event FILE`, which "
            "reads the VMs from ARM), or a MaintenanceEvent (`forewarn parse`) for a notice "
            "about no VMs."
        ),
    )
    _common(route)
    route.add_argument("--json", action="store_true", help="print the decision as JSON")
    route.set_defaults(handler=run_route)

    render = subparsers.add_parser(
        "render",
        help="print what would be sent on a channel",
        description=(
            "The message a receiver of one channel would get, as JSON (--html: a preview page "
            "of every channel), after the silences in force, as the route stage sends it. "
            "--event takes an EnrichedEvent (from `forewarn enrich --event "
            "FILE`), or a MaintenanceEvent (`forewarn parse`) for a notice about no VMs. "
            "Without a routing file, or for a channel no receiver of it gets (said on stderr), "
            "it renders for a stand-in receiver in UTC."
        ),
    )
    _common(render)
    render.add_argument("--channel", required=True, choices=sorted(RENDERERS))
    render.add_argument(
        "--receiver",
        help="a receiver of the routing file (default: the first "
        "of that channel the event reaches, else a stand-in)",
    )
    render.add_argument("--html", metavar="OUT", help="also write a preview page of every channel")
    render.set_defaults(handler=run_render)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--event", required=True, help="MaintenanceEvent or EnrichedEvent JSON")
    parser.add_argument(
        "--config",
        default=os.environ.get(names.SETTING_CONFIG) or None,
        help=f"routing file (default: ${names.SETTING_CONFIG})",
    )
    parser.add_argument("--now", help="render as if at this ISO 8601 time (default: now)")


def read_event(path: str) -> EnrichedEvent:
    return _read_event(path)[0]


def _read_event(path: str) -> tuple[EnrichedEvent, bool]:
    """The event, and whether the file was an EnrichedEvent (not ``forewarn parse`` output)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise EventFileError(f"cannot read {path}: {error}") from error
    try:
        if isinstance(data, dict) and "event" in data and "enriched_at" in data:
            return EnrichedEvent.from_json(data), True
        event = MaintenanceEvent.from_json(data)
        return EnrichedEvent.without_vms(event, event.received_at), False
    except (KeyError, TypeError, ValueError) as error:
        raise EventFileError(
            f"{path} is neither a MaintenanceEvent nor an EnrichedEvent: {error}"
        ) from error


def read_routable_event(path: str) -> EnrichedEvent:
    """An event ``route`` and ``render`` can answer for. A parsed notice about VMs names none
    until enrichment reads them: every VM route would miss, and the answer would look like
    one ("0 VMs, 2 receivers"). So it is refused with the command that fixes it."""
    enriched, was_enriched = _read_event(path)
    if not was_enriched and is_about_vms(enriched.event):
        raise EventFileError(
            f"{path} is a parsed event: it names no VMs until enrichment reads them from ARM; "
            f"run `forewarn enrich --event {path} --out enriched.json` and give enriched.json"
        )
    return enriched


def _now(args: argparse.Namespace) -> datetime:
    return parse_utc(args.now) if args.now else utc_now()


def _config(args: argparse.Namespace, required: bool) -> RoutingConfig | None:
    if not args.config:
        if required:
            raise ConfigNotFoundError(f"give --config FILE or set {names.SETTING_CONFIG}")
        return None
    return load_config(args.config)


def _fail(command: str, error: Exception) -> int:
    if isinstance(error, ConfigInvalidError):
        for problem in error.problems:
            print(problem.render(error.source), file=sys.stderr)
        print(f"forewarn {command}: the routing file is invalid", file=sys.stderr)
    else:
        print(f"forewarn {command}: {error}", file=sys.stderr)
    return 2


def run_validate(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except RoutingConfigError as error:
        return _fail("config validate", error)
    for warning in [*config.warnings, *_placeholders(Path(args.file))]:
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    print(f"{args.file}: valid ({len(config.receivers)} receivers)")
    return 0


def _placeholders(path: Path) -> list[str]:
    """Warnings for a file that still holds the example's placeholder receivers: valid, and
    deployable, but nothing it sends arrives (``forewarn init`` copies the example)."""
    from shared.cli.init_command import EXAMPLE

    text = path.read_text(encoding="utf-8")
    found = []
    with contextlib.suppress(OSError):
        if text == EXAMPLE.read_text(encoding="utf-8"):
            found.append(
                "this is examples/routing.yaml unchanged: put your own receivers and routes in"
            )
    return [*found, *placeholder_warnings(yaml.safe_load(text))]


def _decision_json(groups: list[ReceiverGroup]) -> list[dict[str, Any]]:
    return [
        {
            "receiver": group.receiver.name,
            "type": group.receiver.type,
            "vms": [vm.name for vm in group.vms],
            "why": {
                ("event" if key == EVENT_SUBJECT else key): reasons
                for key, reasons in group.why.items()
            },
        }
        for group in groups
    ]


def _silenced(enriched: EnrichedEvent, groups: list[ReceiverGroup], now: datetime) -> list[Judged]:
    """Each receiver's group after the active silences, as the route stage judges them (read
    only). Without ``AzureWebJobsStorage`` there are no silences to read: said on stderr."""
    if not os.environ.get(names.STORAGE_CONNECTION):
        if enriched.vms:
            print(
                f"note: silences not read ({names.STORAGE_CONNECTION} is not set)",
                file=sys.stderr,
            )
        return [Judged(group) for group in groups]
    try:
        gate = SilenceGate.on_table(
            StorageServices.from_settings(os.environ).table(names.TABLE_SILENCES)
        )
        active = gate.active(enriched, now)
        return [gate.judge_group(enriched, g, active, now, dry_run=True) for g in groups]
    except StorageError as error:
        print(f"note: silences not read: {error}", file=sys.stderr)
        return [Judged(group) for group in groups]


def run_route(args: argparse.Namespace) -> int:
    try:
        enriched = read_routable_event(args.event)
        config = _config(args, required=True)
        assert config is not None
        now = _now(args)
        judged = _silenced(enriched, group_event(enriched, config, now), now)
    except (RoutingConfigError, EventFileError) as error:
        return _fail("route", error)
    # A receiver whose VMs are all held back gets no message: the stage sends it none.
    groups = [j.group for j in judged if j.group.vms or not j.held]
    if args.json:
        decision = _decision_json(groups)
        held = {j.group.receiver.name: j.held for j in judged}
        for entry in decision:
            entry["held"] = [vm.name for vm in held.get(entry["receiver"], [])]
            held_ids = {vm.id for vm in held.get(entry["receiver"], [])}
            entry["why"] = {k: v for k, v in entry["why"].items() if k not in held_ids}
        json.dump(decision, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0 if groups else 1
    print(f"event {enriched.event.event_id}: {len(enriched.vms)} VMs, {len(groups)} receivers")
    names_by_id = {vm.id: vm.name for vm in enriched.vms}
    for one in judged:
        group = one.group
        if one.held and not group.vms:
            print(f"\n{group.receiver.name} ({group.receiver.type}): no message, every VM held")
        else:
            what = f"{len(group.vms)} VMs" if enriched.vms else "the event (no VMs)"
            print(f"\n{group.receiver.name} ({group.receiver.type}): {what}")
        for note in one.notes:
            if note.code == HELD_CODE:
                print(f"  {note.message}")
        by_reason: dict[str, list[str]] = {}
        held_ids = {vm.id for vm in one.held}
        for key, reasons in group.why.items():
            if key in held_ids:
                continue
            for reason in reasons:
                by_reason.setdefault(reason, []).append(names_by_id.get(key, "the event"))
        for reason, subjects in by_reason.items():
            shown = ", ".join(subjects[:10]) + (
                f" and {len(subjects) - 10} more" if len(subjects) > 10 else ""
            )
            print(f"  via {reason}: {shown}")
    if not groups:
        why = "every VM held back by silences" if judged else "check the default route's receivers"
        print(f"no receiver: {why}", file=sys.stderr)
    return 0 if groups else 1


def _for_receivers(
    enriched: EnrichedEvent, config: RoutingConfig, now: datetime
) -> list[tuple[Receiver, list[VirtualMachine], EnrichedEvent]]:
    """Each receiver's VMs and event once the active silences held theirs back, with the note
    that says so, as the route stage sends them; a receiver with every VM held gets none."""
    found = []
    groups = group_event(enriched, config, now)
    # Each receiver's notes, as the route stage narrows them (routing/grouping.py).
    readers = vm_note_readers(enriched, config, now)
    subscription_readers = subscription_note_readers(groups)
    for judged in _silenced(enriched, groups, now):
        if judged.held and not judged.group.vms:
            continue
        name = judged.group.receiver.name
        shown = replace(
            enriched, notes=notes_for(enriched.notes, name, readers, subscription_readers)
        )
        if judged.notes:
            shown = replace(shown, notes=[*shown.notes, *judged.notes])
        found.append((judged.group.receiver, judged.group.vms, shown))
    return found


def _messages(
    enriched: EnrichedEvent, config: RoutingConfig | None, now: datetime
) -> dict[str, tuple[Receiver, RenderedMessage]]:
    """One message per channel: the first receiver of that channel the event reaches."""
    chosen: dict[str, tuple[Receiver, list[Any], EnrichedEvent]] = {}
    if config is not None:
        for receiver, vms, shown in _for_receivers(enriched, config, now):
            chosen.setdefault(receiver.type, (receiver, vms, shown))
    for channel in RENDERERS:
        if channel not in chosen:
            stand_in = Receiver(name=f"preview-{channel}", type=channel, targets=[])
            chosen[channel] = (stand_in, list(enriched.vms), enriched)
    return {
        channel: (receiver, render_message(shown, receiver, vms, now))
        for channel, (receiver, vms, shown) in chosen.items()
    }


def run_render(args: argparse.Namespace) -> int:
    now = _now(args)
    try:
        enriched = read_routable_event(args.event)
        config = _config(args, required=bool(args.receiver))
        messages = _messages(enriched, config, now)
        if args.receiver:
            assert config is not None
            receiver = config.receivers.get(args.receiver)
            if receiver is None:
                raise ConfigNotFoundError(f"no receiver named {args.receiver!r} in {args.config}")
            if receiver.type != args.channel:
                raise ConfigNotFoundError(
                    f"receiver {args.receiver!r} is {receiver.type}, not {args.channel}"
                )
            vms, shown = next(
                (
                    (vms, shown)
                    for one, vms, shown in _for_receivers(enriched, config, now)
                    if one.name == receiver.name
                ),
                ([], enriched),
            )
            messages[args.channel] = (receiver, render_message(shown, receiver, vms, now))
    except (RoutingConfigError, EventFileError) as error:
        return _fail("render", error)
    receiver, message = messages[args.channel]
    if config is not None and config.receivers.get(receiver.name) is not receiver:
        # Said, not silent: this is no receiver's message, in no receiver's time zone.
        print(
            f"forewarn render: no {args.channel} receiver of {args.config} gets this event; "
            f"rendered for a stand-in {args.channel} receiver in UTC",
            file=sys.stderr,
        )
    json.dump(message.to_json(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    if args.html:
        page = build_preview(list(messages.values()), message.subject or enriched.event.title)
        Path(args.html).write_text(page, encoding="utf-8")
        print(f"preview written to {args.html}", file=sys.stderr)
    return 0
