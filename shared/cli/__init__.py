"""The ``forewarn`` command line.

Each command group lives in its own module with a ``register(subparsers)`` function that adds
its sub-commands; each sub-command sets ``handler`` (``argparse.Namespace -> int`` exit code).
Exit codes: 0 success, 1 "valid but nothing to do" or a partial result, 2 bad input or a
failure that stopped the command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# One line per command module; a module may register several sub-commands.
COMMAND_MODULES = (
    "shared.cli.parse_command",
    "shared.cli.serve_command",
    "shared.cli.demo_command",
    "shared.cli.deadletter_command",
    "shared.cli.fanout_command",
    "shared.cli.fleet_command",
    "shared.cli.enrich_command",
    "shared.cli.stand_in_command",
    "shared.cli.init_command",
    "shared.cli.catchup_command",
    "shared.cli.sweep_command",
    "shared.cli.remind_command",
    "shared.cli.silence_command",
    "shared.cli.claim_command",
    "shared.cli.wave_command",
    "shared.cli.retention_command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forewarn",
        description=(
            "Turn Azure planned-maintenance alerts into per-VM messages people can act on."
        ),
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="log everything, with tracebacks and the Azure SDK's own messages, to stderr",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # One run's --debug must not outlive it: main also runs in-process (tests, scripts), and
    # a root logger left at DEBUG prints every library's connection lines to stderr.
    root = logging.getLogger()
    root_level = root.level
    _quiet_libraries(debug=args.debug)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:  # the last net: a person gets one line, --debug the traceback
        logging.getLogger("forewarn.cli").debug("forewarn %s failed", args.command, exc_info=True)
        hint = "" if args.debug else f" (forewarn --debug {args.command} ... shows the traceback)"
        message = (str(error).strip().splitlines() or [""])[0][:300]
        print(f"forewarn {args.command}: {type(error).__name__}: {message}{hint}", file=sys.stderr)
        return 2
    finally:
        root.setLevel(root_level)


def _quiet_libraries(*, debug: bool) -> None:
    """Errors reach a person as one line from forewarn; the libraries' own stories (a failed
    credential chain lists every way it tried, a dozen lines) only with ``--debug``."""
    if debug:
        import os

        from shared.telemetry import TextFormatter, configure_telemetry

        # forewarn's own handler: secrets and phone numbers are masked in debug logs too.
        configure_telemetry(os.environ, log_format=TextFormatter(tracebacks=True))
        logging.getLogger().setLevel(logging.DEBUG)
        return
    logging.getLogger("azure.identity").setLevel(logging.ERROR)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
