"""One queue trigger's poller: receive, run each message on its own, finish it, never die.

What the Functions host does for a queue trigger, and what this poller must survive:

- Storage may fail at any call (receive, create, delete, poison, visibility update, lease
  renewal). Every such error is logged and the loop backs off and goes on; clients are built
  again after a failure, so a setting fixed meanwhile is picked up. A message whose finishing
  call failed simply reappears after its lease and runs again (the functions are idempotent).
- Each message completes independently: a worker slot frees as soon as its message is done,
  and the next receive fills the free slots. A hung message holds one slot, not its batch.
- A message this process puts on the queue (another stage's output) wakes the poller at once
  (``shared.storage.listen_for_sends``), as the Functions host's listener is woken by its own
  output bindings; anything else (another process, a delayed message) waits for the next poll,
  whose interval doubles while the queue stays empty, up to host.json's maxPollingInterval.
- A message is leased for ``lease_seconds`` and the lease is renewed while its function runs,
  so a crash of the host hands the message back within one short lease, while a long but live
  run is never given to a second worker.

``state()`` says whether the poller is alive and has completed a poll (an answer from storage)
recently; the host's ``/api/health`` reports it.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from azure.functions.queue import QueueMessage

from shared import names
from shared.devhost.settings import QueueOptions
from shared.storage import create_if_missing, listen_for_sends, quick_failing_options
from shared.telemetry import get_logger

log = get_logger("forewarn.devhost")

DEFAULT_LEASE_SECONDS = 30.0  # a crashed host's messages are back within this
_MAX_ERROR_BACKOFF_SECONDS = 5.0


class PollerSettingError(Exception):
    """The trigger's connection setting is missing (may be set later: the poller retries)."""


@dataclass
class _Lease:
    """A running message: its current pop receipt (each renewal issues a new one)."""

    message: Any
    pop_receipt: str
    renew_at: float
    lock: threading.Lock


class QueuePoller:
    def __init__(
        self,
        function: Any,
        *,
        environ: Mapping[str, str],
        options: QueueOptions,
        stop: threading.Event,
        track: Callable[[int], None],
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self._function = function
        self._trigger = function.get_trigger()
        self._environ = environ
        self._options = options
        self._stop = stop
        self._track = track
        self._lease_seconds = lease_seconds
        self._slots = max(1, min(options.batch_size, 16))
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._slot_freed = threading.Event()  # wakes the loop: a slot freed, or a message sent
        self._sent = threading.Event()
        self._leases: dict[str, _Lease] = {}
        self._leases_lock = threading.Lock()
        self.started = time.monotonic()
        self.last_poll: float | None = None  # monotonic time of the last answer from storage
        self.last_error: str | None = None
        self.thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return str(self._function.get_function_name())

    @property
    def queue_name(self) -> str:
        return str(self._trigger.queue_name)

    def state(self, stalled_after_seconds: float) -> str:
        """``ok``, ``dead`` or ``stalled: ...`` (no answer from storage for too long)."""
        if self.thread is not None and not self.thread.is_alive() and not self._stop.is_set():
            return "dead"
        since = self.last_poll if self.last_poll is not None else self.started
        quiet = time.monotonic() - since
        if quiet > stalled_after_seconds:
            why = f"; last error: {self.last_error}" if self.last_error else ""
            return f"stalled: no poll completed for {quiet:.0f} s{why}"
        return "ok"

    # ---- the loop ----------------------------------------------------------------------
    def client(self, queue: str) -> Any:
        from azure.storage.queue import QueueClient

        setting = self._trigger.connection
        conn = self._environ.get(setting) or self._environ.get(names.STORAGE_CONNECTION)
        if not conn:
            raise PollerSettingError(f"setting {setting} is not set")
        return QueueClient.from_connection_string(conn, queue, **quick_failing_options())

    def run(self) -> None:
        workers = ThreadPoolExecutor(max_workers=self._slots, thread_name_prefix=self.name)
        clients: tuple[Any, Any] | None = None
        idle_delay = 0.05
        error_delay = 0.25
        stop_listening = listen_for_sends(self.queue_name, self._message_sent)
        try:
            while not self._stop.is_set():
                try:
                    if clients is None:
                        clients = self._connect()
                    self._renew_due(clients[0])
                    received = self._receive(clients[0])
                    error_delay = 0.25
                except Exception as error:  # every storage or setting error: log, back off, go on
                    clients = None
                    self.last_error = f"{type(error).__name__}"
                    log.warning(
                        "queue %s: %s; retrying in %.1f s",
                        self.queue_name,
                        type(error).__name__,
                        error_delay,
                    )
                    self._stop.wait(error_delay)
                    error_delay = min(error_delay * 2, _MAX_ERROR_BACKOFF_SECONDS)
                    continue
                for message in received:
                    workers.submit(self._run_message, clients[0], clients[1], message)
                if received:
                    idle_delay = 0.05
                    continue
                # Nothing new (or no free slot): wait, waking early when a slot frees; never
                # longer than a lease renewal may wait.
                wait = min(idle_delay, self._lease_seconds / 3)
                self._slot_freed.wait(wait)
                self._slot_freed.clear()
                if self._sent.is_set():
                    self._sent.clear()
                    idle_delay = 0.05
                elif self._free_slots() > 0:
                    idle_delay = min(idle_delay * 2, self._options.max_polling_interval_seconds)
        finally:
            stop_listening()
            workers.shutdown(wait=True)

    def _message_sent(self) -> None:
        self._sent.set()
        self._slot_freed.set()

    def _connect(self) -> tuple[Any, Any]:
        client = self.client(self.queue_name)
        poison = self.client(self.queue_name + names.POISON_SUFFIX)
        for queue in (client, poison):
            create_if_missing(queue.create_queue)
        return client, poison

    def _free_slots(self) -> int:
        with self._busy_lock:
            return self._slots - self._busy

    def _receive(self, client: Any) -> list[Any]:
        free = self._free_slots()
        if free <= 0:
            self.last_poll = time.monotonic()  # nothing to ask storage: the loop is alive
            return []
        batch = list(
            client.receive_messages(
                messages_per_page=min(free, 32),
                visibility_timeout=int(self._lease_seconds),
                max_messages=min(free, 32),
            )
        )
        self.last_poll = time.monotonic()
        self.last_error = None
        if batch:
            with self._busy_lock:
                self._busy += len(batch)
            self._track(len(batch))
            renew_at = time.monotonic() + self._lease_seconds / 3
            with self._leases_lock:
                for message in batch:
                    self._leases[message.id] = _Lease(
                        message, message.pop_receipt, renew_at, threading.Lock()
                    )
        return batch

    def _renew_due(self, client: Any) -> None:
        now = time.monotonic()
        with self._leases_lock:
            due = [lease for lease in self._leases.values() if lease.renew_at <= now]
        for lease in due:
            with lease.lock:
                if lease.message.id not in self._leases:
                    continue  # finished meanwhile
                try:
                    renewed = client.update_message(
                        lease.message.id,
                        lease.pop_receipt,
                        visibility_timeout=int(self._lease_seconds),
                    )
                    lease.pop_receipt = renewed.pop_receipt
                except Exception as error:  # the next cycle tries again; worst case it reruns
                    log.warning(
                        "queue %s: lease of message %s not renewed (%s)",
                        self.queue_name,
                        lease.message.id,
                        type(error).__name__,
                    )
                lease.renew_at = time.monotonic() + self._lease_seconds / 3

    # ---- one message -------------------------------------------------------------------
    def _run_message(self, client: Any, poison: Any, message: Any) -> None:
        try:
            succeeded, text = self._invoke(message)
            with self._leases_lock:
                lease = self._leases.get(message.id)
            if lease is None:
                return
            with lease.lock:
                with self._leases_lock:
                    self._leases.pop(message.id, None)
                self._finish(client, poison, message, lease.pop_receipt, succeeded, text)
        finally:
            with self._busy_lock:
                self._busy -= 1
            self._track(-1)
            self._slot_freed.set()

    def _invoke(self, message: Any) -> tuple[bool, str]:
        body = message.content
        text = body if isinstance(body, str) else body.decode("utf-8")
        try:
            queue_message = QueueMessage(
                id=message.id,
                body=_base64_text(text).encode("utf-8"),
                dequeue_count=message.dequeue_count,
                insertion_time=message.inserted_on,
                expiration_time=message.expires_on,
                time_next_visible=message.next_visible_on,
                pop_receipt=message.pop_receipt,
            )
            self._function.get_user_function()(**{self._trigger.name: queue_message})
            return True, text
        except Exception:
            log.warning(
                "function %s failed on message %s (attempt %s)",
                self.name,
                message.id,
                message.dequeue_count,
                exc_info=True,
            )
            return False, text

    def _finish(
        self, client: Any, poison: Any, message: Any, receipt: str, succeeded: bool, text: str
    ) -> None:
        """Delete, poison or release the message. A failure here is logged, not raised: the
        message stays leased and comes back when the lease ends, like after a host crash."""
        try:
            if succeeded:
                client.delete_message(message.id, receipt)
            elif message.dequeue_count >= self._options.max_dequeue_count:
                poison.send_message(text)  # already base64, as the host writes poison messages
                client.delete_message(message.id, receipt)
            else:
                client.update_message(
                    message.id,
                    receipt,
                    visibility_timeout=int(self._options.visibility_timeout_seconds),
                )
        except Exception as error:
            log.warning(
                "queue %s: message %s could not be finished (%s); it returns after its lease",
                self.queue_name,
                message.id,
                type(error).__name__,
            )


def _base64_text(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return text
