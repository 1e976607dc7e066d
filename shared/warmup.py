"""A stage's first-use work, done in the background when the worker starts, off a notice's path.

    warm_up(name, *steps)   runs the steps in order in one daemon thread, once per process

Some of what the route and delivery stages need is made on first use: the email templates
compiled (~50 ms, and ~30 ms to import Jinja2), Twilio's Messages API imported (~75 ms),
the system's TLS trust store parsed (~40 ms). A worker started for a notice (scale from zero)
imports ``function_app`` and then spends most of a second waiting for ARM in the enrich stage;
done in that wait, this work is no longer on the cold notice's route and delivery
(docs/decisions.md, issue 18). Each step must be pure preparation, the same work the first
use would do, with no I/O beyond reading the package's own files: nothing here may change what
a message says. A step that fails is logged at DEBUG and left to its first use, which fails
or succeeds as it always did.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from shared.telemetry import get_logger

log = get_logger(__name__)

_started: set[str] = set()
_lock = threading.Lock()


def warm_up(name: str, *steps: Callable[[], object]) -> threading.Thread | None:
    """Start ``steps`` in a daemon thread named ``forewarn-warm-up-<name>``, the first time a
    process asks for ``name``; returns the thread (None when it was started before)."""
    with _lock:
        if name in _started:
            return None
        _started.add(name)

    def run() -> None:
        for step in steps:
            try:
                step()
            except Exception:  # any: left to the step's first use (see the docstring)
                log.debug("warm-up %s: %s failed; it runs on first use", name, step, exc_info=True)

    thread = threading.Thread(target=run, name=f"forewarn-warm-up-{name}", daemon=True)
    thread.start()
    return thread
