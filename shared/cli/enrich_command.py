"""``forewarn enrich --event FILE``: what the enrich stage makes of an event, as JSON.

    forewarn parse alert.json > event.json
    forewarn enrich --event event.json --out enriched.json
    forewarn route --event enriched.json --config forewarn.yaml
    forewarn render --event enriched.json --channel slack

``--event`` takes a MaintenanceEvent (``forewarn parse`` output) or an alert payload as an
Action Group posts it (it is parsed first). The VMs, their windows, the advice and the plan are
read from ARM with the settings ``FOREWARN_ARM_ENDPOINT`` and ``FOREWARN_ARM_TOKEN`` (or a
managed identity / ``DefaultAzureCredential``); ``forewarn stand-in`` prints settings for a
stand-in ARM. Exit 0 with the EnrichedEvent on stdout (or in ``--out``), 2 when the event
cannot be read or ARM cannot be (one line on stderr; ``--final`` turns ARM failures into
notes in the output, as the stage does on its last attempt).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from shared.models import MaintenanceEvent
from shared.render.text import plural


class EventReadError(Exception):
    """The file is unreadable, or neither a MaintenanceEvent nor an alert forewarn acts on."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "enrich",
        help="read an event's VMs from ARM and print the enriched event (for route and render)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--event", required=True, help="MaintenanceEvent JSON (forewarn parse) or an alert"
    )
    parser.add_argument("--out", type=Path, help="write the EnrichedEvent here, not to stdout")
    parser.add_argument(
        "--final",
        action="store_true",
        help="as on the stage's last attempt: ARM failures become notes, not an error",
    )
    parser.set_defaults(handler=run)


def read_event(path: str) -> MaintenanceEvent:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise EventReadError(f"cannot read {path}: {error}") from error
    except json.JSONDecodeError as error:
        raise EventReadError(f"{path} is not JSON (line {error.lineno})") from error
    if isinstance(data, dict) and ("schemaId" in data or "data" in data):
        return _parse_alert(path, data)
    try:
        return MaintenanceEvent.from_json(data)
    except (KeyError, TypeError, ValueError) as error:
        raise EventReadError(f"{path} is not a MaintenanceEvent: {error}") from error


def _parse_alert(path: str, payload: Any) -> MaintenanceEvent:
    from shared.parsing.errors import InvalidAlertError, NotForForewarnError
    from shared.parsing.normalise import parse_alert
    from shared.timeutil import utc_now

    try:
        return parse_alert(payload, utc_now())
    except NotForForewarnError as error:
        raise EventReadError(f"{path}: not for forewarn: {error.reason}") from error
    except InvalidAlertError as error:
        first = error.problems[0] if error.problems else "unreadable"
        raise EventReadError(
            f"{path}: invalid alert ({len(error.problems)} problems, first: {first}); "
            "forewarn parse shows them all"
        ) from error


def run(args: argparse.Namespace) -> int:
    from shared.enrich.errors import EnrichError
    from shared.enrich.pipeline import enrich_event
    from shared.enrich.services import EnrichmentServices

    try:
        event = read_event(args.event)
        enriched = enrich_event(
            event, EnrichmentServices.create(os.environ), final_attempt=args.final
        )
    except EventReadError as error:
        print(f"forewarn enrich: {error}", file=sys.stderr)
        return 2
    except EnrichError as error:
        print(f"forewarn enrich: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    text = json.dumps(enriched.to_json(), indent=2, ensure_ascii=False) + "\n"
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
        print(
            f"forewarn enrich: {plural(len(enriched.vms), 'VM')}, "
            f"{plural(len(enriched.notes), 'note')} -> {args.out}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 0
