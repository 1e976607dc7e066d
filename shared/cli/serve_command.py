"""``forewarn serve``: host the real Functions app on 127.0.0.1 (a local Functions host).

Out of the box it is safe offline: what has no real setting is replaced by a stand-in on
127.0.0.1 (``--stand-ins auto``). Without ``FOREWARN_ARM_ENDPOINT``, ``FOREWARN_ARM_TOKEN`` and
``AZURE_CLIENT_ID`` enrichment reads a stand-in ARM holding a small demo fleet (the
subscription of the sample alerts); without ``FOREWARN_CONFIG`` every channel routes to a
stand-in receiver, and each message one receives is printed; without
``FOREWARN_LOG_ANALYTICS_WORKSPACE_ID`` the catch-up and quietest hours read a stand-in
workspace. It prints the ``export`` lines that point the other commands (sweep, silence,
deadletter, catch-up, vms, route, ...) at what it started, Azurite included with
``--with-azurite``. Logs are text, one line per record and one line per problem
(``--tracebacks`` for the whole story).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import os
import shlex
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared import names
from shared.auth import AlertsKeys
from shared.devhost.settings import QueueOptions, load_local_settings
from shared.telemetry import TextFormatter, configure_telemetry

if TYPE_CHECKING:
    from shared.devhost.azurite import Azurite

# Any of these set means "use the real ARM" (a sovereign cloud, a token, a managed identity).
ARM_SETTINGS = (names.SETTING_ARM_ENDPOINT, names.SETTING_ARM_TOKEN, names.SETTING_AZURE_CLIENT_ID)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="host the Functions app locally (HTTP, queue and timer triggers)",
        description=(
            "Hosts function_app on 127.0.0.1: HTTP routes under /api (POST /api/alerts needs "
            f"the alerts key, {names.SETTING_ALERTS_KEY}), queue triggers polling "
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
    parser.add_argument(
        "--stand-ins",
        choices=("auto", "on", "off"),
        default="auto",
        help="stand-in ARM, receivers and Log Analytics on 127.0.0.1: auto (default) for what "
        "has no real setting, on for all, off for none",
    )
    parser.add_argument(
        "--tracebacks", action="store_true", help="print whole tracebacks, not one line each"
    )
    parser.add_argument(
        "--signed-in-as",
        metavar="NAME",
        help="play App Service authentication: every request to the app is signed in as NAME "
        "(sets FOREWARN_ACTIONS_SIGN_IN=easyauth), for trying Start links locally",
    )
    parser.set_defaults(handler=run)


def _say(text: str) -> None:
    # One write per line: print() writes the text and the newline separately, and a log line
    # from another thread (the receivers, the pollers) could land between the two.
    sys.stderr.write(f"forewarn serve: {text}\n")
    sys.stderr.flush()


def wanted_stand_ins(mode: str, environ: MutableMapping[str, str]) -> tuple[bool, bool, bool]:
    """(ARM, receivers, Log Analytics): which stand-ins to start for these settings."""
    if mode != "auto":
        return mode == "on", mode == "on", mode == "on"
    arm = not any(environ.get(setting, "").strip() for setting in ARM_SETTINGS)
    receivers = not environ.get(names.SETTING_CONFIG, "").strip()
    logs = not environ.get(names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, "").strip()
    return arm, receivers, logs


@contextlib.contextmanager
def stand_ins(
    arm: bool, receivers: bool, logs: bool, environ: MutableMapping[str, str]
) -> Iterator[dict[str, str]]:
    """Start the wanted stand-ins and point the settings at them, for as long as serve runs;
    yields the settings they set (for the ``export`` lines other commands need)."""
    if not (arm or receivers or logs):
        yield {}
        return
    from shared.standins.smtp_server import SmtpStandInUnavailable
    from shared.standins.stand_ins import OfflineStandIns

    with tempfile.TemporaryDirectory(prefix="forewarn-serve-") as workdir:
        try:
            offline = OfflineStandIns(
                Path(workdir), arm=arm, receivers=receivers, logs=logs, announce=_say
            )
        except SmtpStandInUnavailable as missing:
            _say(
                f"{missing}; or set {names.SETTING_CONFIG} and {names.SETTING_ARM_TOKEN}, "
                "or run with --stand-ins off"
            )
            yield {}
            return
        with offline as running:
            environ.update(running.settings)
            if running.arm is not None:
                _say(
                    f"no ARM settings ({', '.join(ARM_SETTINGS)}): enrichment reads a stand-in "
                    f"ARM with a demo fleet at {running.arm.base_url}"
                )
            if running.sinks is not None:
                _say(
                    f"no {names.SETTING_CONFIG}: every channel goes to a stand-in receiver on "
                    f"127.0.0.1 (routing file {running.routing_file}); "
                    "what they get is printed here"
                )
            if running.logs is not None:
                _say(
                    f"no {names.SETTING_LOG_ANALYTICS_WORKSPACE_ID}: the catch-up and quietest "
                    f"hours read a stand-in workspace at {running.logs.base_url}"
                )
            yield running.settings


def run(args: argparse.Namespace) -> int:
    load_local_settings(args.settings, os.environ)
    # Text for a terminal, once: function_app configures telemetry again and keeps this.
    configure_telemetry(os.environ, log_format=TextFormatter(tracebacks=args.tracebacks))
    root = logging.getLogger()
    debug = root.level == logging.DEBUG  # forewarn --debug serve: keep everything
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    if not debug:
        # A failed credential lists every way it tried; the failure itself is logged by forewarn.
        logging.getLogger("azure.identity").setLevel(logging.ERROR)
    try:
        # Before anything starts: a taken port found only when the host binds would leave
        # Azurite running and the export lines printed for a world that is gone.
        _check_port_free(args.host, args.port)
        arm, receivers, logs = wanted_stand_ins(args.stand_ins, os.environ)
        with stand_ins(arm, receivers, logs, os.environ) as exported:
            return _serve(args, exported)
    except PortInUseError as error:
        print(f"forewarn serve: {error}", file=sys.stderr)
        return 2


class PortInUseError(Exception):
    """The address serve should listen on is taken; the message says how to choose another."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"{host}:{port} is already in use (another forewarn serve or func start?): choose "
            f"a free port with --port PORT (make serve SERVE_ARGS='--port {port + 1}')"
        )


def _check_port_free(host: str, port: int) -> None:
    # The same options the host's server binds with (SO_REUSEADDR), so a port left in
    # TIME_WAIT by a serve just stopped is not reported as taken.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUseError(host, port) from error
            raise


def _link_here(args: argparse.Namespace) -> None:
    """With an action link key and no FOREWARN_PUBLIC_URL, messages link to this host: the
    Claim links in what the local receivers get then open here (before the host starts, so
    the route function reads it with its other settings)."""
    if os.environ.get(names.SETTING_PUBLIC_URL, "").strip() or not args.port:
        return
    if not os.environ.get(names.SETTING_ACTION_LINK_KEY, "").strip():
        return
    os.environ[names.SETTING_PUBLIC_URL] = f"http://{args.host}:{args.port}"
    print(
        f"forewarn serve: {names.SETTING_PUBLIC_URL} unset: Claim links in messages point here, "
        f"{os.environ[names.SETTING_PUBLIC_URL]}/api/actions/...",
        file=sys.stderr,
    )


def _serve(args: argparse.Namespace, exported: dict[str, str]) -> int:
    key_problem = AlertsKeys.from_settings(os.environ).problem
    if key_problem is not None:
        print(
            f"forewarn serve: the alerts key is {key_problem}; POST /api/alerts will answer 503",
            file=sys.stderr,
        )
    azurite = None
    if args.with_azurite:
        from shared.devhost.azurite import Azurite

        azurite = Azurite.start()
    # From here on, whatever fails stops Azurite: nothing is left running behind an error.
    try:
        return _host(args, exported, azurite)
    finally:
        if azurite is not None:
            azurite.stop()


def _host(args: argparse.Namespace, exported: dict[str, str], azurite: Azurite | None) -> int:
    from shared.devhost.host import DevHost

    if azurite is not None:
        os.environ[names.STORAGE_CONNECTION] = azurite.connection_string
        # Azurite's account key is Microsoft's published development key, not a secret.
        exported = {names.STORAGE_CONNECTION: azurite.connection_string, **exported}
    if exported:
        # Other commands (sweep, silence, deadletter, catch-up, vms, route, ...) need these
        # to reach the same storage, ARM, workspace and receivers; the stand-in ARM's token is
        # a fixed test value, and the receivers' secrets are stand-in values too.
        print(
            "forewarn serve: for other commands, paste these into another shell:\n"
            + "\n".join(
                f"  export {name}={shlex.quote(value)}" for name, value in exported.items()
            ),
            file=sys.stderr,
        )
    sys.path.insert(0, str(Path.cwd()))
    app = importlib.import_module("function_app").app
    # With a workspace, a pass of the catch-up as the host starts: alerts that came while this
    # host was down were refused (or never reached it) and only the Activity Log has them.
    catch_up_now = bool(os.environ.get(names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, "").strip())
    if catch_up_now and not args.no_timers:
        print(
            "forewarn serve: Log Analytics workspace set: the catch-up runs now and at 7 past "
            "each hour (alerts refused while forewarn was down come back this way)",
            file=sys.stderr,
        )
    _link_here(args)
    if args.signed_in_as:
        os.environ[names.SETTING_ACTIONS_SIGN_IN] = "easyauth"
        _say(f"forewarn serve: every request is signed in as {args.signed_in_as}")
    try:
        host = DevHost(
            app,
            environ=os.environ,
            host=args.host,
            port=args.port,
            queue_options=QueueOptions.from_host_json(args.host_json),
            run_timers=not args.no_timers,
            only=set(args.functions.split(",")) if args.functions else None,
            timers_at_start=frozenset({names.FUNCTION_CATCHUP}) if catch_up_now else frozenset(),
            signed_in_as=args.signed_in_as,
        )
    except OSError as error:
        # Taken between the check and the bind (another serve starting at the same moment).
        if error.errno == errno.EADDRINUSE:
            raise PortInUseError(args.host, args.port) from error
        raise
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    host.start()
    print(
        f"forewarn serve: listening on {host.base_url}/api — POST /api/alerts?code=KEY where KEY "
        f"is {names.SETTING_ALERTS_KEY} (environment or {args.settings})",
        file=sys.stderr,
        flush=True,
    )
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        host.stop()
    return 0
