"""``forewarn parse FILE|-``: what ingest would make of a payload.

Exit 0 accepted (the normalised event on stdout), 1 valid but not for forewarn (reason on
stderr), 2 invalid (each problem as a JSON pointer and a message on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shared.parsing.decode import loads
from shared.parsing.errors import MAX_PROBLEMS_SHOWN, InvalidAlertError, NotForForewarnError
from shared.parsing.normalise import parse_alert
from shared.timeutil import utc_now


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "parse",
        help="validate and normalise an alert payload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="a JSON payload as an Action Group posts it, or - for stdin")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else _read(args.file)
    except OSError as error:
        print(f"forewarn parse: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 2
    try:
        event = parse_alert(loads(text), utc_now())
    except InvalidAlertError as error:
        # The same problems, in the same bounds, as the 400 of POST /api/alerts.
        for problem in error.problems[:MAX_PROBLEMS_SHOWN]:
            print(problem, file=sys.stderr)
        hidden = len(error.problems) - MAX_PROBLEMS_SHOWN
        if hidden > 0:
            print(f"… and {hidden} more problems", file=sys.stderr)
        return 2
    except NotForForewarnError as error:
        print(f"not for forewarn: {error.reason}", file=sys.stderr)
        return 1
    json.dump(event.to_json(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()
