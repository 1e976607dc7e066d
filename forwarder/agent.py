"""The forwarder's loop: poll IMDS, note changes in the outbox, drain and approve, post.

One thread does everything in order, so the state file has one writer. A drain runs after the
outbox is flushed, so the app hears of the event before the drain starts; while a drain runs,
polls wait (a drain is bounded by its timeout, which must end well before ``NotBefore``).
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from forwarder import DeliveryError, ImdsError, RefusedError
from forwarder.app import AppClient
from forwarder.config import Settings
from forwarder.imds import Document, Imds
from forwarder.state import State

WIRE_VERSION = 1
log = logging.getLogger("forwarder")


class Forwarder:
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.imds = Imds(settings.imds_url)
        self.app = AppClient(settings.post_url, settings.key)
        self.state = State.load(settings.state_file)
        self._clock = clock
        self._vm: dict[str, str] | None = None
        self._backoff = 0.0
        self._next_attempt = 0.0
        self.imds_answered = False  # by the last poll (``--once`` says so in its exit code)

    # -- one round -------------------------------------------------------------------------

    def step(self) -> None:
        """Poll once, post what is waiting, then run the drains the poll asked for."""
        try:
            self.poll()
            self.imds_answered = True
        except ImdsError as error:
            self.imds_answered = False
            log.warning("%s; polling again in %.1f s", error, self.settings.poll_seconds)
        self.flush()
        if self.settings.drain_command:
            self.drain_pending()
            self.flush()

    def poll(self) -> None:
        if self._vm is None:
            self._vm = self.imds.compute()
        document = self.imds.events()
        if document.incarnation == self.state.incarnation and document.incarnation >= 0:
            return  # the same document again: nothing changed
        changes = list(self._changes(document))
        self.state.incarnation = document.incarnation
        self.state.known = document.events
        self.state.outbox.extend(changes)
        # Drain outcomes of events that are gone are of no further use.
        self.state.drains = {k: v for k, v in self.state.drains.items() if k in document.events}
        self.state.save(self.settings.state_file)
        for change in changes:
            event = change["event"]
            log.info(
                "%s %s %s (%s)",
                change["change"],
                event["EventType"],
                event["EventId"],
                event["EventStatus"],
            )

    def _changes(self, document: Document) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        known = self.state.known
        # Whether this event's drain outcome went into the outbox before: the app makes the
        # message of this change wait for the drain's (Started after "drained").
        drained = self.state.drains
        for event_id, event in document.events.items():
            if event_id not in known:
                out.append(self._post("new", document.incarnation, event, drainReported=False))
            elif event != known[event_id]:
                out.append(
                    self._post(
                        "changed", document.incarnation, event, drainReported=event_id in drained
                    )
                )
        for event_id, event in known.items():
            if event_id not in document.events:
                out.append(
                    self._post(
                        "vanished", document.incarnation, event, drainReported=event_id in drained
                    )
                )
        return out

    def _post(
        self, change: str, incarnation: int, event: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        return {
            "v": WIRE_VERSION,
            "change": change,
            "incarnation": incarnation,
            "observedAt": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "vm": dict(self._vm or {}),
            "event": event,
            **extra,
        }

    # -- posting ---------------------------------------------------------------------------

    def flush(self) -> None:
        while self.state.outbox:
            if self._clock() < self._next_attempt:
                return
            post = self.state.outbox[0]
            try:
                self.app.post(post)
            except RefusedError as error:
                # A 400 names a field of our own making; retrying would block every later post.
                log.error(
                    "%s; dropped the %s post of %s", error, post["change"], post["event"]["EventId"]
                )
            except DeliveryError as error:
                self._backoff = min(
                    self.settings.max_backoff, max(self._backoff * 2, self.settings.poll_seconds)
                )
                self._next_attempt = self._clock() + self._backoff
                log.warning("%s; trying again in %.1f s", error, self._backoff)
                return
            self._backoff = 0.0
            self.state.outbox.pop(0)
            self.state.save(self.settings.state_file)

    # -- drain and approve -----------------------------------------------------------------

    def drain_pending(self) -> None:
        for event_id, event in list(self.state.known.items()):
            if event.get("EventStatus") != "Scheduled" or event_id in self.state.drains:
                continue
            outcome = self._drain(event_id)
            self.state.drains[event_id] = outcome
            self.state.outbox.append(
                self._post("drained", self.state.incarnation, event, drain=outcome)
            )
            self.state.save(self.settings.state_file)

    def _drain(self, event_id: str) -> dict[str, Any]:
        started = time.monotonic()
        try:
            result = subprocess.run(
                self.settings.drain_command,
                timeout=self.settings.drain_timeout,
                capture_output=True,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return _outcome(
                False, None, f"timed out after {self.settings.drain_timeout:.0f} s", started
            )
        except OSError as error:
            return _outcome(False, None, f"could not run: {error.strerror}", started)
        if result.returncode != 0:
            return _outcome(False, result.returncode, "failed; the event was not approved", started)
        try:
            self.imds.approve(event_id)
        except ImdsError as error:
            return _outcome(True, 0, f"drained, but the approval failed: {error}", started)
        log.info("drained and approved %s", event_id)
        return {**_outcome(True, 0, "drained and approved", started), "approved": True}

    # -- the process -----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        log.info(
            "forwarding Scheduled Events from %s to %s every %.1f s",
            self.settings.imds_url,
            self.settings.post_url,
            self.settings.poll_seconds,
        )
        while not stop.is_set():
            self.step()
            stop.wait(self.settings.poll_seconds)


def _outcome(succeeded: bool, exit_code: int | None, detail: str, started: float) -> dict[str, Any]:
    return {
        "succeeded": succeeded,
        "exitCode": exit_code,
        "approved": False,
        "detail": detail,
        "seconds": round(time.monotonic() - started, 1),
    }
