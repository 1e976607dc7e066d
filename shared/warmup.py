"""A stage's first-use work, done in the background once a worker has work, off a notice's path.

    register(name, *steps)   at import: remembers the steps, starts nothing
    start(*names)            at a function's first message: runs each named warm-up's steps
                             in order in one daemon thread, once per process
    warm_up(name, *steps)    both at once (a warm-up no module registers)

Some of what the route and delivery stages need is made on first use: the email templates
compiled (~50 ms, and ~30 ms to import Jinja2), Twilio's Messages API imported (~75 ms),
the system's TLS trust store parsed (~40 ms). A worker started for a notice (scale from zero)
imports ``function_app`` and then spends most of a second waiting for ARM in the enrich stage;
done in that wait, this work is no longer on the cold notice's route and delivery
(docs/decisions.md, issue 18). The thread is started by the enrich stage's first message, not
when ``function_app`` is imported: started at import it took the GIL from the import itself
and made every worker's start slower, a worker that never routes included. Each step must be
pure preparation, the same work the first use would do, with no I/O beyond reading the
package's own files: nothing here may change what a message says. A step that fails is logged
at DEBUG and left to its first use, which fails or succeeds as it always did.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from shared.telemetry import get_logger

log = get_logger(__name__)

_started: set[str] = set()
_registered: dict[str, tuple[Callable[[], object], ...]] = {}
_lock = threading.Lock()


def register(name: str, *steps: Callable[[], object]) -> None:
    """Remember ``steps`` as the warm-up ``name``, for ``start(name)``; starts nothing."""
    with _lock:
        _registered[name] = steps


def start(*names: str) -> list[threading.Thread]:
    """Start each registered warm-up of ``names`` not started before; returns the new threads.
    A name nothing registered (its module not imported) starts nothing."""
    with _lock:
        steps = {name: _registered[name] for name in names if name in _registered}
    return [t for t in (warm_up(name, *s) for name, s in steps.items()) if t is not None]


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
