"""``python3 -m forwarder``: run until SIGTERM (systemd's stop) or Ctrl-C."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from forwarder import ConfigError
from forwarder.agent import Forwarder
from forwarder.config import Settings


def main() -> int:
    # journald stamps each line itself; the level is enough.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        settings = Settings.from_environ()
    except ConfigError as error:
        print(f"forwarder: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    Forwarder(settings).run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
