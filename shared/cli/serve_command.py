"""``forewarn serve``: host the real Functions app on 127.0.0.1 (a local Functions host)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from shared import names
from shared.devhost.settings import QueueOptions, load_local_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="host the Functions app locally (HTTP, queue and timer triggers)",
        description=(
            "Hosts function_app on 127.0.0.1: HTTP routes under /api with the function-key "
            f"check ({names.SETTING_LOCAL_FUNCTION_KEY}), queue triggers polling "
            f"{names.STORAGE_CONNECTION} (Azurite locally) with host.json's queue settings, "
            "and timer triggers. Settings come from the environment, then local.settings.json."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--settings", default="local.settings.json", type=Path)
    parser.add_argument("--host-json", default="host.json", type=Path)
    parser.add_argument("--no-timers", action="store_true", help="do not run timer triggers")
    parser.add_argument(
        "--with-azurite",
        action="store_true",
        help="start Azurite from node_modules on free ports and point AzureWebJobsStorage at it",
    )
    parser.add_argument(
        "--functions",
        help="comma-separated function names to host (like `func start --functions`)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from shared.devhost.host import DevHost

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    load_local_settings(args.settings, os.environ)
    if not os.environ.get(names.SETTING_LOCAL_FUNCTION_KEY):
        print(
            f"forewarn serve: {names.SETTING_LOCAL_FUNCTION_KEY} is not set; routes with auth "
            "level FUNCTION will answer 401",
            file=sys.stderr,
        )
    azurite = None
    if args.with_azurite:
        from shared.devhost.azurite import Azurite

        azurite = Azurite.start()
        os.environ[names.STORAGE_CONNECTION] = azurite.connection_string
        # Azurite's account key is Microsoft's published development key, not a secret; other
        # commands (forewarn deadletter) need the string to reach this storage.
        print(
            f"forewarn serve: Azurite on 127.0.0.1; for other commands:\n"
            f"  export {names.STORAGE_CONNECTION}='{azurite.connection_string}'",
            file=sys.stderr,
        )
    sys.path.insert(0, str(Path.cwd()))
    app = importlib.import_module("function_app").app
    host = DevHost(
        app,
        environ=os.environ,
        host=args.host,
        port=args.port,
        queue_options=QueueOptions.from_host_json(args.host_json),
        function_key=os.environ.get(names.SETTING_LOCAL_FUNCTION_KEY),
        run_timers=not args.no_timers,
        only=set(args.functions.split(",")) if args.functions else None,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    host.start()
    print(
        f"forewarn serve: listening on {host.base_url}/api — POST /api/alerts?code=KEY where KEY "
        f"is {names.SETTING_LOCAL_FUNCTION_KEY} (environment or {args.settings})",
        file=sys.stderr,
        flush=True,
    )
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        host.stop()
        if azurite is not None:
            azurite.stop()
    return 0
