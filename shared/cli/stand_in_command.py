"""``forewarn stand-in``: a complete local world on 127.0.0.1, for the other commands.

It starts Azurite (storage: queues and tables), a stand-in ARM holding a small demo fleet
(subscription 11111111-1111-1111-1111-111111111111, the one of the sample alerts in
``examples/alerts``), a stand-in Log Analytics workspace (CPU history for the quietest hour;
no Activity Log rows, so the catch-up finds nothing there: ``forewarn demo`` shows a notice
recovered) and stand-in SMTP, Twilio, Slack, Teams, webhook and PagerDuty (escalations only)
receivers with a routing file aimed at them, prints the ``export`` lines that point forewarn
at all of them (the ARM token included), then prints each message a receiver gets until
Ctrl-C. In another terminal, after those exports, every command of docs/operations.md works
as written there:

    forewarn vms --subscription 11111111-1111-1111-1111-111111111111
    forewarn plan --subscription 11111111-1111-1111-1111-111111111111
    forewarn parse examples/alerts/service-health-maintenance.json > event.json
    forewarn enrich --event event.json --out enriched.json
    forewarn route --event enriched.json
    forewarn render --event enriched.json --channel teams
    forewarn sweep --subscription 11111111-1111-1111-1111-111111111111 --dry-run --json
    forewarn silence list
    forewarn deadletter list
    forewarn catch-up --dry-run

`forewarn serve` starts the same world by itself for what has no real setting (storage with
``--with-azurite``), and prints the same ``export`` lines. They are
the package ``shared.standins``; the SMTP receiver needs aiosmtpd (``forewarn[standins]``).
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from shared import names


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "stand-in",
        help="run a local world (Azurite, stand-in ARM, Log Analytics and receivers) on "
        "127.0.0.1 and print the settings to export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--no-arm", action="store_true", help="only the receivers")
    parser.add_argument("--no-receivers", action="store_true", help="no receivers")
    parser.add_argument("--no-logs", action="store_true", help="no Log Analytics stand-in")
    parser.add_argument(
        "--no-storage", action="store_true", help="no Azurite (storage for sweep, silence, …)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from shared.devhost.azurite import azurite_bin
    from shared.standins.smtp_server import SmtpStandInUnavailable
    from shared.standins.stand_ins import OfflineStandIns

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())

    def say(line: str) -> None:
        print(line, flush=True)

    storage = not args.no_storage
    if storage and not azurite_bin().exists():
        # An installed wheel has no node_modules: the rest of the world still helps.
        print(
            f"forewarn stand-in: no Azurite at {azurite_bin()} (`make install` in a clone "
            f"installs it): no storage, so sweep, silence, deadletter and catch-up need "
            f"{names.STORAGE_CONNECTION} from elsewhere",
            file=sys.stderr,
        )
        storage = False
    with tempfile.TemporaryDirectory(prefix="forewarn-stand-in-") as workdir:
        try:
            offline = OfflineStandIns(
                Path(workdir),
                arm=not args.no_arm,
                receivers=not args.no_receivers,
                logs=not args.no_logs,
                storage=storage,
                announce=say,
            )
        except SmtpStandInUnavailable as missing:
            print(f"forewarn stand-in: {missing}; or run with --no-receivers", file=sys.stderr)
            return 2
        with contextlib.ExitStack() as stack:
            running = stack.enter_context(offline)
            print("# forewarn stand-ins on 127.0.0.1; paste these into another shell:")
            for name, value in running.settings.items():
                print(f"export {name}={shlex.quote(value)}")
            print(
                "# messages the stand-in receivers get are printed below; Ctrl-C stops", flush=True
            )
            with contextlib.suppress(KeyboardInterrupt):
                stopped.wait()
    return 0
