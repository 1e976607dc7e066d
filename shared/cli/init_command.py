"""``forewarn init``: write a starter routing file (``forewarn.yaml``) for a deployment.

The app reads its routing file from ``FOREWARN_CONFIG`` (``forewarn.yaml`` at the app root by
default, as the Bicep sets it); without one every event would end in a poison queue. This
writes the commented example (``examples/routing.yaml``) there, for you to edit: receivers,
routes, and the *names* of the settings that hold secrets. ``azd up`` packages it with the
code; ``forewarn config validate forewarn.yaml`` checks it; ``GET /api/health`` says when the
deployed app has none.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"
DEFAULT_FILE = Path("forewarn.yaml")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "init",
        help="write a starter routing file (forewarn.yaml) from the example",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_FILE, help="default: forewarn.yaml")
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.force:
        print(f"forewarn init: {args.out} exists; --force replaces it", file=sys.stderr)
        return 2
    try:
        text = EXAMPLE.read_text(encoding="utf-8")
    except OSError:
        print(
            "forewarn init: run it from a clone of the repository (needs examples/)",
            file=sys.stderr,
        )
        return 2
    args.out.write_text(text, encoding="utf-8")
    print(
        f"forewarn init: wrote {args.out}. Edit its receivers and routes, check it with "
        f"`forewarn config validate {args.out}`, then `azd up` deploys it with the code."
    )
    return 0
