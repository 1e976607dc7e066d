"""Scheduled Events from the forwarder (forwarder/, inside each VM): read, checked, made a notice.

A post says one change of one event in a VM's Instance Metadata Service: ``new``, ``changed``
(Scheduled to Started, a new ``NotBefore``), ``vanished`` (the event is over: the forwarder
runs in the VM, so it sees this once the VM is back) or ``drained`` (the owner's drain command
ran, and the event was approved or not). Each becomes a ``scheduled_event`` notice about that
VM, routed like Azure's notices, in the wave's thread when the VM is in a wave.

Its event id is ``scheduled-<EventId>-<VM name>-<state>`` (state: scheduled, started, gone,
drained, canceled; a scheduled one also carries its ``NotBefore``), so a repeated post (the
forwarder resends after a crash, or Event Grid brings the same event) gives the same delivery
job ids and delivery's idempotency lets one message through per receiver: one message per
event, VM and state, and one more if Azure moves ``NotBefore``.

    ScheduledEventError
    ├── InvalidPostError     the body is not a forwarder post (400, naming the field)
    └── PostNotSignedError   no signature, a stale timestamp, or a wrong one (401 / 403)
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final

from shared import names
from shared.auth import MIN_ALERTS_KEY_LENGTH
from shared.models import EnrichedEvent, ImpactedService, MaintenanceEvent, VirtualMachine
from shared.parsing.resource_id import parse_scale_set_instance_id, parse_vm_id
from shared.timeutil import format_utc, parse_utc
from shared.wave.records import RecordStore

KIND: Final = "scheduled_event"
SIGNATURE_HEADER: Final = "X-Forewarn-Signature"
TIMESTAMP_HEADER: Final = "X-Forewarn-Timestamp"
TOLERANCE_SECONDS: Final = 300  # a post signed longer ago is refused (replay of a capture)
MAX_BODY_BYTES: Final = 64 * 1024
CHANGES: Final = ("new", "changed", "vanished", "drained")
EVENT_TYPES: Final = ("Reboot", "Redeploy", "Freeze", "Preempt", "Terminate")
EVENT_STATUSES: Final = ("Scheduled", "Started")
WIRE_VERSION: Final = 1
SERVICE: Final = "Virtual Machines"  # as Service Health names the service of a VM's maintenance


class ScheduledEventError(Exception):
    """Base class of Scheduled Events intake failures."""


class InvalidPostError(ScheduledEventError):
    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer}: {message}")
        self.pointer = pointer
        self.message = message


class PostNotSignedError(ScheduledEventError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


KEY_OK: Final = "ok"
KEY_OFF: Final = "off"  # no key: Scheduled Events are not used (the route answers 503)


def key_state(environ: Mapping[str, str]) -> tuple[tuple[str, ...], str]:
    """The usable key (none or one) and its state for /api/health: ok, off, or what is wrong
    (named by setting, never by value)."""
    setting = names.SETTING_SCHEDULED_EVENTS_KEY
    value = environ.get(setting, "").strip()
    if not value:
        return (), KEY_OFF
    if value.lower().startswith("@microsoft.keyvault("):
        return (), f"unresolved ({setting} is a Key Vault reference that did not resolve)"
    if len(value) < MIN_ALERTS_KEY_LENGTH:
        return (), f"too short ({setting} needs {MIN_ALERTS_KEY_LENGTH} characters or more)"
    return (value,), KEY_OK


def sign(key: bytes, timestamp: int, body: bytes) -> str:
    """The forwarder's signature (forwarder/app.py writes the same): ``v1=`` HMAC-SHA256."""
    digest = hmac.new(key, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return f"v1={digest.hexdigest()}"


def check_signature(
    keys: tuple[str, ...], headers: Mapping[str, str], body: bytes, now: datetime
) -> None:
    """401 without a signature or timestamp; 403 for a wrong or stale one."""
    lowered = {name.lower(): value for name, value in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER.lower(), "")
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    if not signature or not timestamp:
        raise PostNotSignedError(
            401, f"a signed post is required: the {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} headers"
        )
    if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > TOLERANCE_SECONDS:
        raise PostNotSignedError(
            403, f"{TIMESTAMP_HEADER} is not within {TOLERANCE_SECONDS} s of the app's clock"
        )
    matched = False
    for key in keys:
        expected = sign(key.encode("utf-8"), int(timestamp), body)
        matched |= hmac.compare_digest(expected.encode(), signature.encode())
    if not matched:
        raise PostNotSignedError(
            403,
            "the signature does not match the scheduled-events key (FOREWARN_SCHEDULED_EVENTS_KEY)",
        )


@dataclass(frozen=True)
class ScheduledEventPost:
    change: str
    event_id: str
    event_type: str
    status: str  # Scheduled, Started
    resources: tuple[str, ...]
    not_before: str | None  # ISO 8601 UTC; None once started
    description: str
    source: str
    duration_seconds: int
    vm_name: str
    vm_resource_id: str
    observed_at: str  # ISO 8601 UTC
    drain: Mapping[str, Any] | None = None
    # The VM's region from its instance metadata ("" from a forwarder older than the field).
    vm_location: str = ""
    # The forwarder posted this event's drain outcome before this post (False from a
    # forwarder older than the field, and from Event Grid, which knows of no drain).
    drain_reported: bool = False

    @property
    def state(self) -> str:
        """What one message is about: scheduled, started, gone, drained or canceled (the last
        from Event Grid only, shared/scheduled/eventgrid.py)."""
        if self.change == "vanished":
            return "gone"
        if self.change in ("drained", "canceled"):
            return self.change
        return self.status.lower()

    @property
    def notice_id(self) -> str:
        """One message per event, VM and state; a moved ``NotBefore`` is a new message too.
        The VM is part of it: one event may name several VMs (those of one host), and each
        VM's owners hear of it."""
        return _notice_id(self.event_id, self.vm_name, self.state, self.not_before)


def _notice_id(event_id: str, vm_name: str, state: str, not_before: str | None) -> str:
    moment = ""
    if state == "scheduled" and not_before:
        moment = "-" + "".join(ch for ch in not_before if ch.isdigit())
    return f"scheduled-{event_id.lower()}-{vm_name.lower()}-{state}{moment}"


def notices_before(post: ScheduledEventPost) -> tuple[str, ...]:
    """The notice this post's must not overtake for any receiver (the delivery stage waits
    for it, shared/delivery/order.py): the last one the forwarder posted for the event and VM
    before it, so the messages of one event make a chain in the order they happened.

    - a drain's outcome follows the "in 15 min" message of the ``NotBefore`` it drained for;
    - Started follows the drain's outcome when the forwarder says it posted one
      (``drainReported``; a forwarder older than the field says nothing, and Started then
      waits for nothing: it cannot overtake a drain the app does not know of);
    - gone follows Started when the forwarder saw the event start, else what came before
      (an approved drain can reboot the VM before the forwarder sees Started).

    - Event Grid's canceled follows the "in 15 min" message it calls off.

    A moved ``NotBefore`` follows nothing: the post does not say the time it replaces.
    """
    state = post.state
    scheduled = (
        (_notice_id(post.event_id, post.vm_name, "scheduled", post.not_before),)
        if post.not_before
        else ()
    )
    drained = (_notice_id(post.event_id, post.vm_name, "drained", None),)
    if state in ("drained", "canceled"):
        return scheduled
    if state == "started":
        return drained if post.drain_reported else ()
    if state == "gone":
        if post.status == "Started":
            return (_notice_id(post.event_id, post.vm_name, "started", None),)
        return drained if post.drain_reported else scheduled
    return ()


def _field(document: Mapping[str, Any], pointer: str, key: str, kind: type) -> Any:
    value = document.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidPostError(f"{pointer}/{key}", f"must be a {kind.__name__}")
    return value


def parse_not_before(value: Any, pointer: str) -> str | None:
    """IMDS's ``NotBefore`` (RFC 1123, GMT; blank once started) as ISO 8601 UTC, or None."""
    if not value:
        return None
    try:
        return format_utc(parsedate_to_datetime(str(value)).astimezone(UTC))
    except (TypeError, ValueError):
        raise InvalidPostError(
            pointer, "must be an RFC 1123 date (Mon, 11 Apr 2026 22:26:58 GMT)"
        ) from None


def parse_post(body: bytes) -> ScheduledEventPost:
    """The forwarder's post, checked field by field (the first problem is named)."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidPostError("", f"the body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidPostError("", "the body must be a JSON object")
    if document.get("v") != WIRE_VERSION:
        raise InvalidPostError("/v", f"must be {WIRE_VERSION}")
    change = _field(document, "", "change", str)
    if change not in CHANGES:
        raise InvalidPostError("/change", f"must be one of {', '.join(CHANGES)}")
    vm = _field(document, "", "vm", dict)
    resource_id = _field(vm, "/vm", "resourceId", str)
    if parse_vm_id(resource_id) is None and parse_scale_set_instance_id(resource_id) is None:
        raise InvalidPostError(
            "/vm/resourceId", "must be a virtual machine's (or a scale set instance's) resource id"
        )
    event = _field(document, "", "event", dict)
    event_id = _field(event, "/event", "EventId", str)
    event_type = _field(event, "/event", "EventType", str)
    if event_type not in EVENT_TYPES:
        raise InvalidPostError("/event/EventType", f"must be one of {', '.join(EVENT_TYPES)}")
    status = _field(event, "/event", "EventStatus", str)
    if status not in EVENT_STATUSES:
        raise InvalidPostError("/event/EventStatus", f"must be one of {', '.join(EVENT_STATUSES)}")
    resources = _field(event, "/event", "Resources", list)
    not_before = parse_not_before(event.get("NotBefore"), "/event/NotBefore")
    duration = event.get("DurationInSeconds", -1)
    if not isinstance(duration, int) or isinstance(duration, bool):
        raise InvalidPostError("/event/DurationInSeconds", "must be an integer (-1: unknown)")
    observed = _field(document, "", "observedAt", str)
    try:
        observed_at = format_utc(parse_utc(observed))
    except ValueError:
        raise InvalidPostError("/observedAt", "must be an ISO 8601 time") from None
    drain = document.get("drain")
    if change == "drained" and not isinstance(drain, dict):
        raise InvalidPostError("/drain", "a drained post must say how the drain went")
    drain_reported = document.get("drainReported", False)
    if not isinstance(drain_reported, bool):
        raise InvalidPostError("/drainReported", "must be true or false")
    return ScheduledEventPost(
        change=change,
        event_id=event_id,
        event_type=event_type,
        status=status,
        resources=tuple(str(item) for item in resources),
        not_before=not_before,
        description=str(event.get("Description") or ""),
        source=str(event.get("EventSource") or ""),
        duration_seconds=duration,
        vm_name=str(vm.get("name") or resource_id.rsplit("/", 1)[-1]),
        vm_resource_id=resource_id,
        observed_at=observed_at,
        drain=drain if isinstance(drain, dict) else None,
        vm_location=str(vm.get("location") or "").strip().lower(),
        drain_reported=drain_reported,
    )


def _summary(post: ScheduledEventPost) -> str:
    parts = [post.description.strip() or f"Azure Scheduled Event {post.event_type}."]
    if post.duration_seconds > 0:
        parts.append(f"Expected to last about {post.duration_seconds} s.")
    if post.source:
        parts.append(f"Source: {post.source}.")
    if post.drain is not None:
        parts.append(f"Drain: {post.drain.get('detail', 'no detail')}.")
    parts.append(f"Event {post.event_id}.")
    return " ".join(parts)


def _status(post: ScheduledEventPost) -> str:
    if post.state == "gone":
        return "Gone"
    if post.state == "canceled":
        return "Canceled"
    if post.state == "drained":
        drain = post.drain or {}
        if drain.get("approved") is True:
            return "Drained"
        # The drain ran clean but IMDS refused the approval: Azure goes ahead at NotBefore.
        return "Drained, not approved" if drain.get("succeeded") is True else "Drain failed"
    return post.status


# How long after a VM's wave closed a Scheduled Event still follows that wave's thread.
WAVE_STILL_TOLD = timedelta(days=1)


def notice_of(post: ScheduledEventPost, records: RecordStore, now: datetime) -> EnrichedEvent:
    """The notice to route: about the VM, in its wave's thread when forewarn follows it."""
    vm_id = parse_vm_id(post.vm_resource_id)
    # Records are kept by VM id: a Uniform scale set's instance has none, so no wave's record
    # names it, and its message goes out on its own (docs/operations.md says what is threaded).
    record = records.get(post.vm_resource_id) if vm_id is not None else None
    if record is not None:
        vm = record.vm
        # Its wave's thread while the wave is the VM's: open, or just found done (the event's
        # last posts, "back at", may come after the sweep saw the maintenance done). A wave
        # over long ago is not this event's: a later reboot is news of its own.
        recent = parse_utc(record.updated_at) >= now - WAVE_STILL_TOLD
        tracking_id = record.tracking_id if record.is_open or recent else None
    else:
        where = vm_id or parse_scale_set_instance_id(post.vm_resource_id)
        assert where is not None  # parse_post checked it
        vm = VirtualMachine(
            id=post.vm_resource_id,
            name=post.vm_name,
            subscription_id=where.subscription_id,
            resource_group=where.resource_group,
            location=post.vm_location,
        )
        tracking_id = None
    event = MaintenanceEvent(
        event_id=post.notice_id,
        kind=KIND,
        schema="common",
        subscription_ids=[vm.subscription_id],
        tracking_id=tracking_id,
        incident_type=None,
        stage=None,
        status=_status(post),
        # What is still to come (and a failed drain: the reboot comes undrained) is Warning, so
        # quiet hours never hold it (routing/quiet_hours.py): "in 15 min" after the quiet hours
        # is no notice at all. What is done can wait.
        level="Warning"
        if _status(post) in ("Scheduled", "Drain failed", "Drained, not approved")
        else "Informational",
        title=post.event_type,
        summary=_summary(post),
        # The VM's region, so the notice says where (a wave's record has it from ARM).
        impacted=[ImpactedService(SERVICE, [vm.location])] if vm.location else [],
        impact_start=post.not_before,
        impact_end=None,
        resource_ids=[vm.id],
        operation_name=f"Microsoft.Compute/scheduledEvents/{post.event_type}",
        maintenance_id=None,
        communication_id=post.event_id,
        is_test=False,
        received_at=format_utc(now),
        event_time=post.observed_at,
    )
    return EnrichedEvent(
        event=event,
        vms=[vm],
        plan=None,
        notes=[],
        enriched_at=format_utc(now),
        after=list(notices_before(post)),
    )
