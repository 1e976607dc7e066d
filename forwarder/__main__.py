"""``python3 -m forwarder``: run until SIGTERM (systemd's stop) or Ctrl-C.

``python3 -m forwarder --once`` polls once, posts what it found and exits: 0 when IMDS answered
and the app took every post, 1 otherwise (the reason is logged). It checks an installation;
stop the service first, as both would write the same state file.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from forwarder import ConfigError
from forwarder.agent import Forwarder
from forwarder.config import Settings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--once"]):
        print("usage: python3 -m forwarder [--once]", file=sys.stderr)
        return 2
    # journald stamps each line itself; the level is enough.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        settings = Settings.from_environ()
    except ConfigError as error:
        print(f"forwarder: {error}", file=sys.stderr)
        return 2
    forwarder = Forwarder(settings)
    if args == ["--once"]:
        forwarder.step()
        return 0 if forwarder.imds_answered and not forwarder.state.outbox else 1
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    forwarder.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
