"""The domain records that travel between stages.

Every stage reads and writes these as JSON (``to_json``/``from_json``) so that a queue message,
a CLI's output and a test's golden file all show the same field names. Field names of
``MaintenanceEvent`` are a public contract (tools read them); change them only with the README.

    MaintenanceEvent   one normalised alert (ingest)
    VirtualMachine     one VM with its maintenance status and advice (enrich)
    MaintenancePlan    the proposed self-service order (enrich)
    EnrichedEvent      event + VMs + plan + notes (enrich -> route)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from typing import Any, Literal

from shared.timeutil import parse_utc

EventKind = Literal["service_health", "resource_health", "administrative", "scheduled_event"]
SchemaName = Literal["common", "legacy"]
AdviceAction = Literal["self_service", "let_azure", "avoid_self_service", "none"]
CheckState = Literal["applies", "clear", "unknown"]
StepKind = Literal["update_domain", "zone", "group", "vm"]
UNCODED_REASON = "unspecified"

ENRICHED_EVENT_VERSION = 1

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_LEAVES = (str, int, float, bool, type(None))


def plain(value: Any) -> Any:
    """``dataclasses.asdict`` for these records, without its deep copy of every leaf.

    The leaves here are strings, numbers, booleans and None: immutable, so sharing them is
    safe, and copying them was most of the route stage's serialising time (a 2,000-VM event
    has some 100,000). Dicts, lists and tuples are new, as asdict makes them.
    """
    if isinstance(value, _LEAVES):
        return value
    kind = type(value)
    names = _FIELD_NAMES.get(kind)
    if names is None and is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES.setdefault(kind, tuple(item.name for item in fields(value)))
    if names is not None:
        return {name: plain(getattr(value, name)) for name in names}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(plain(item) for item in value)
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    return copy.deepcopy(value)  # anything else, as asdict does


def as_json(record: object) -> dict[str, Any]:
    """A dataclass record as a JSON-ready dict (``plain`` of it)."""
    converted: dict[str, Any] = plain(record)
    return converted


@dataclass(frozen=True)
class ImpactedService:
    service: str
    regions: list[str]


@dataclass(frozen=True)
class MaintenanceEvent:
    """One alert from an Action Group, normalised across schemas and event kinds."""

    event_id: str
    kind: EventKind
    schema: SchemaName
    subscription_ids: list[str]
    tracking_id: str | None
    incident_type: str | None
    stage: str | None
    status: str | None
    level: str | None
    title: str
    summary: str
    impacted: list[ImpactedService]
    impact_start: str | None
    impact_end: str | None
    resource_ids: list[str]
    operation_name: str | None
    maintenance_id: str | None
    communication_id: str | None
    is_test: bool
    received_at: str
    alert_rule: str | None = None
    event_time: str | None = None
    # True when the catch-up found it in Log Analytics because the webhook never brought it.
    # Not part of ``event_id``: a recovered notice and a received one are the same notice.
    recovered: bool = False
    # Administrative events: who did it (a user's sign-in name, or an application's object id),
    # as the Activity Log's ``caller`` says. Not part of ``event_id`` either.
    caller: str | None = None

    @property
    def regions(self) -> list[str]:
        seen: dict[str, None] = {}
        for service in self.impacted:
            for region in service.regions:
                seen.setdefault(region, None)
        return list(seen)

    def to_json(self) -> dict[str, Any]:
        return as_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MaintenanceEvent:
        fields = dict(data)
        fields["impacted"] = [ImpactedService(**item) for item in data.get("impacted", [])]
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in fields.items() if key in known})


@dataclass(frozen=True)
class TimeWindow:
    start: str | None  # ISO 8601 UTC
    end: str | None

    @property
    def start_dt(self) -> datetime | None:
        return parse_utc(self.start) if self.start else None

    @property
    def end_dt(self) -> datetime | None:
        return parse_utc(self.end) if self.end else None


@dataclass(frozen=True)
class MaintenanceStatus:
    """``instanceView.maintenanceRedeployStatus``; absent on a VM means nothing is planned."""

    self_service_allowed: bool
    self_service_window: TimeWindow
    scheduled_window: TimeWindow
    last_result_code: str | None = None
    last_message: str | None = None


@dataclass(frozen=True)
class AdviceReason:
    """Why the advice is what it is: a stable snake_case ``code`` for tools, ``text`` for people."""

    code: str
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class MaintenanceFact:
    """A sourced fact people need to decide (``reboot_duration``, ``status_can_revert``, …)."""

    code: str
    text: str


@dataclass(frozen=True)
class CounterIndicationCheck:
    """One of Azure's "don't self-serve" cases and what forewarn knows about it for this VM.

    ``state``: ``applies`` (a tag or the VM says so), ``clear`` (the owner's ``forewarn-advice``
    tag describes the VM and does not list it), ``unknown`` (forewarn cannot see it).
    ``seen`` says what was looked at, e.g. "no auto-shutdown schedule".
    """

    code: str
    state: CheckState
    seen: str


def _reason(item: AdviceReason | str | dict[str, Any]) -> AdviceReason:
    if isinstance(item, AdviceReason):
        return item
    if isinstance(item, dict):
        return AdviceReason(str(item.get("code") or UNCODED_REASON), str(item.get("text") or ""))
    return AdviceReason(UNCODED_REASON, str(item))  # written before reasons had codes


@dataclass(frozen=True)
class Advice:
    """What to do about one VM's maintenance, and why.

    ``self_service_advised``: Azure's guidance says start it yourself (``action`` is
    ``self_service``), possibly on conditions ``checks`` leave ``unknown``.
    ``self_service_allowed``: Azure accepts a start now (``isCustomerInitiatedMaintenanceAllowed``
    and inside the self-service window, when advised). The two are independent: offer a
    "start now" action only where both hold.
    """

    action: AdviceAction
    reasons: list[AdviceReason]
    self_service_advised: bool = False
    self_service_allowed: bool = False
    checks: list[CounterIndicationCheck] = field(default_factory=list)
    facts: list[MaintenanceFact] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Reasons given as plain text (older records, terse tests) still get a code.
        object.__setattr__(self, "reasons", [_reason(item) for item in self.reasons])

    @property
    def reason_codes(self) -> list[str]:
        return [reason.code for reason in self.reasons]

    @property
    def unknown_checks(self) -> list[str]:
        """Counter-indications forewarn could not see: the conditions of its advice."""
        return [check.code for check in self.checks if check.state == "unknown"]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Advice:
        return cls(
            action=data["action"],
            reasons=[_reason(item) for item in data.get("reasons") or []],
            self_service_advised=bool(data.get("self_service_advised", False)),
            self_service_allowed=bool(data.get("self_service_allowed", False)),
            checks=[CounterIndicationCheck(**check) for check in data.get("checks") or []],
            facts=[MaintenanceFact(**fact) for fact in data.get("facts") or []],
        )


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class QuietestHour:
    """The hour of the week with the lowest load inside a VM's self-service window.

    From Log Analytics (``InsightsMetrics`` or ``Perf``, the last 14 days): ``start``/``end``
    are that hour's first occurrence inside the window (ISO 8601 UTC); ``load_percent`` the
    average CPU in that hour of the week; ``samples`` how many readings it rests on.
    """

    start: str
    end: str
    load_percent: float
    metric: str = "cpu"
    samples: int = 0

    def describe(self) -> str:
        """As people read it: "Tue 02:00–03:00 UTC, 4 % CPU" (UTC; zones are for renderers)."""
        start, end = parse_utc(self.start), parse_utc(self.end)
        load = f"{self.load_percent:.0f}" if self.load_percent >= 1 else f"{self.load_percent:.1f}"
        return (
            f"{_WEEKDAYS[start.weekday()]} {start:%H:%M}–{end:%H:%M} UTC, "
            f"{load} % {self.metric.upper()}"
        )


@dataclass(frozen=True)
class VirtualMachine:
    id: str
    name: str
    subscription_id: str
    resource_group: str
    location: str
    power_state: str | None = None
    size: str | None = None
    zone: str | None = None
    update_domain: int | None = None
    fault_domain: int | None = None
    availability_set: str | None = None
    scale_set: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    maintenance: MaintenanceStatus | None = None
    advice: Advice = field(default_factory=lambda: Advice("none", []))
    quietest_hour: QuietestHour | None = None  # Log Analytics' hint; None without data
    # Who has claimed it (shared/wave/claims.py): receiver name -> person; "" when the claim
    # named no receiver. Set by the wave's timers on the notices they send; empty otherwise.
    owners: dict[str, str] = field(default_factory=dict)
    # A signed link that claims this VM for the receiver a message goes to (shared/wave/
    # actions.py); set by the route stage per receiver when links are configured, else None.
    claim_url: str | None = None
    # A signed "Start now" link for the plan step this VM is in, the same for every VM of the
    # step (shared/wave/actions.py StartLinks); set by the route stage per receiver, else None.
    start_url: str | None = None

    @property
    def quietest_note(self) -> str:
        """The end of a message's VM line: " · quietest: Tue 02:00–03:00 UTC, 4 % CPU", or ""."""
        return f" · quietest: {self.quietest_hour.describe()}" if self.quietest_hour else ""

    def to_json(self) -> dict[str, Any]:
        data = as_json(self)
        # Most VMs are unclaimed and unlinked: a wave of thousands carries neither key.
        if not data["owners"]:
            del data["owners"]
        if data["claim_url"] is None:
            del data["claim_url"]
        if data["start_url"] is None:
            del data["start_url"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VirtualMachine:
        fields = dict(data)
        status = data.get("maintenance")
        if status is not None:
            fields["maintenance"] = MaintenanceStatus(
                self_service_allowed=bool(status["self_service_allowed"]),
                self_service_window=TimeWindow(**status["self_service_window"]),
                scheduled_window=TimeWindow(**status["scheduled_window"]),
                last_result_code=status.get("last_result_code"),
                last_message=status.get("last_message"),
            )
        advice = data.get("advice") or {"action": "none", "reasons": []}
        fields["advice"] = Advice.from_json(advice)
        fields["tags"] = dict(data.get("tags") or {})
        fields["owners"] = {str(k): str(v) for k, v in (data.get("owners") or {}).items()}
        quietest = data.get("quietest_hour")
        fields["quietest_hour"] = QuietestHour(**quietest) if quietest else None
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in fields.items() if key in known})


@dataclass(frozen=True)
class PlanStep:
    """One step's turn: its VMs, started together, and when.

    ``kind`` says what the VMs share: an ``update_domain`` (of availability sets or scale sets;
    ``update_domain`` is then its number, or ``None`` when unknown), a ``zone``, a ``group``
    (the ``forewarn-group`` tag) or nothing (``vm``: one standalone VM).
    """

    order: int
    update_domain: int | None
    vm_ids: list[str]
    start: str  # ISO 8601 UTC
    end: str
    kind: StepKind = "update_domain"
    zone: str | None = None
    group: str | None = None
    quietest: bool = False  # starts at the quietest hour of its VMs (Log Analytics)


@dataclass(frozen=True)
class MaintenancePlan:
    """Steps one at a time: each gets ``step_minutes``, the next starts at least
    ``gap_minutes`` after it ends, the first at least ``lead_minutes`` after the plan was made."""

    steps: list[PlanStep]
    gap_minutes: int
    warnings: list[str] = field(default_factory=list)
    step_minutes: int = 30
    lead_minutes: int = 0
    facts: list[MaintenanceFact] = field(default_factory=list)

    @property
    def spacing_minutes(self) -> int:
        """The least time between the starts of two steps: what "N minutes apart" means."""
        return self.step_minutes + self.gap_minutes

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MaintenancePlan:
        return cls(
            steps=[PlanStep(**step) for step in data.get("steps", [])],
            gap_minutes=int(data.get("gap_minutes", 30)),
            warnings=list(data.get("warnings", [])),
            step_minutes=int(data.get("step_minutes", 30)),
            lead_minutes=int(data.get("lead_minutes", 0)),
            facts=[MaintenanceFact(**fact) for fact in data.get("facts") or []],
        )


@dataclass(frozen=True)
class EnrichmentNote:
    """Something enrichment could not do, shown to people rather than hidden."""

    code: str  # e.g. "forbidden", "vm_gone", "no_impacted_resources", "throttled"
    message: str
    subscription_id: str | None = None
    resource_id: str | None = None
    # The one receiver this note is for (a wave pass's held-back note names that receiver's
    # VMs only; the route stage shows it to that receiver alone). None: every receiver's.
    receiver: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The note as JSON, without ``receiver`` when it is every receiver's (as before)."""
        data: dict[str, Any] = plain(self)
        if data.get("receiver") is None:
            data.pop("receiver", None)
        return data


@dataclass(frozen=True)
class EnrichedEvent:
    event: MaintenanceEvent
    vms: list[VirtualMachine]
    plan: MaintenancePlan | None
    notes: list[EnrichmentNote]
    enriched_at: str
    version: int = ENRICHED_EVENT_VERSION
    # A wave timer's per-VM notice: the wave's other VMs still open, so that the message can
    # say what remains (the route stage narrows them to each receiver's). Empty otherwise.
    remaining: list[VirtualMachine] = field(default_factory=list)
    # Azure's closing notice (Complete, Canceled, Resolved) reads no VMs: the wave's VMs whose
    # open records it closed, so that messages can withdraw what they said of them (an email's
    # calendar entries). The route stage narrows them to each receiver's. Empty otherwise.
    closed: list[VirtualMachine] = field(default_factory=list)
    # The event ids of notices this one must not overtake for any receiver (a Scheduled
    # Event's messages, in the order they happened): the route stage hands them to delivery
    # (shared/delivery/order.py). Empty otherwise.
    after: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = {
            "version": self.version,
            "event": self.event.to_json(),
            "vms": [vm.to_json() for vm in self.vms],
            "plan": plain(self.plan) if self.plan else None,
            "notes": [note.to_json() for note in self.notes],
            "enriched_at": self.enriched_at,
        }
        if self.remaining:
            data["remaining"] = [vm.to_json() for vm in self.remaining]
        if self.closed:
            data["closed"] = [vm.to_json() for vm in self.closed]
        if self.after:
            data["after"] = list(self.after)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EnrichedEvent:
        plan = data.get("plan")
        return cls(
            event=MaintenanceEvent.from_json(data["event"]),
            vms=[VirtualMachine.from_json(vm) for vm in data.get("vms", [])],
            plan=MaintenancePlan.from_json(plan) if plan else None,
            notes=[EnrichmentNote(**note) for note in data.get("notes", [])],
            enriched_at=data["enriched_at"],
            version=int(data.get("version", ENRICHED_EVENT_VERSION)),
            remaining=[VirtualMachine.from_json(vm) for vm in data.get("remaining") or []],
            closed=[VirtualMachine.from_json(vm) for vm in data.get("closed") or []],
            after=[str(item) for item in data.get("after") or []],
        )

    @classmethod
    def without_vms(cls, event: MaintenanceEvent, enriched_at: str) -> EnrichedEvent:
        """A Service Health event that names no VMs still routes and renders."""
        return cls(event=event, vms=[], plan=None, notes=[], enriched_at=enriched_at)


# --------------------------------------------------------------------------------------
# Fan-out: who receives what (routing -> render -> delivery)

ChannelName = Literal["email", "sms", "slack", "teams", "webhook", "pagerduty"]


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock hours (receiver's time zone) when nothing non-urgent is sent."""

    start: str  # "22:00"
    end: str  # "07:00"


@dataclass(frozen=True)
class Receiver:
    """One destination from the routing file. Secrets appear only as setting *names*."""

    name: str
    type: ChannelName
    targets: list[str]
    timezone: str = "UTC"
    language: str = "en"
    quiet_hours: QuietHours | None = None
    # Channel options: plain values (``smtp_host``, ``from``, ``channel``) and references to
    # settings that hold secrets (keys ending in ``_setting``, e.g. ``token_setting``).
    options: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return as_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Receiver:
        quiet = data.get("quiet_hours")
        return cls(
            name=data["name"],
            type=data["type"],
            targets=list(data.get("targets", [])),
            timezone=data.get("timezone", "UTC"),
            language=data.get("language", "en"),
            quiet_hours=QuietHours(**quiet) if quiet else None,
            options=dict(data.get("options") or {}),
        )


@dataclass(frozen=True)
class RenderedMessage:
    """What one receiver gets, already in its channel's native shape."""

    channel: ChannelName
    subject: str  # email subject, Slack/Teams title, SMS: empty
    text: str  # plain text: email text part, SMS body, Slack fallback ``text``
    html: str | None = None  # email HTML part
    payload: dict[str, Any] | None = None  # Slack blocks, Teams card, webhook document
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. SMS segments and encoding
    # Email: the VMs' windows as calendar entries (shared/render/calendar.py, JSON), made a
    # .ics file by the sender; None when the message has no windows to give.
    calendar: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        # The payload (a 2,000-VM webhook document is ~1 MB) is handed over as it is, not
        # walked and copied: it is JSON already and is serialised straight away.
        data = {**as_json(replace(self, payload=None, calendar=None)), "payload": self.payload}
        del data["calendar"]
        if self.calendar is not None:  # only emails with windows carry the key
            data["calendar"] = self.calendar
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RenderedMessage:
        return cls(
            channel=data["channel"],
            subject=data.get("subject", ""),
            text=data.get("text", ""),
            html=data.get("html"),
            payload=data.get("payload"),
            meta=dict(data.get("meta") or {}),
            calendar=data.get("calendar"),
        )


@dataclass(frozen=True)
class DeliveryJob:
    """One (event, receiver) pair on that receiver's channel queue."""

    job_id: str  # f"{event_id}:{receiver.name}" — the idempotency key
    event_id: str
    receiver: Receiver
    message: RenderedMessage
    created_at: str
    not_before: str | None = None  # quiet hours: hold until then (ISO 8601 UTC)

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "event_id": self.event_id,
            "receiver": self.receiver.to_json(),
            "message": self.message.to_json(),
            "created_at": self.created_at,
            "not_before": self.not_before,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeliveryJob:
        return cls(
            job_id=data["job_id"],
            event_id=data["event_id"],
            receiver=Receiver.from_json(data["receiver"]),
            message=RenderedMessage.from_json(data["message"]),
            created_at=data["created_at"],
            not_before=data.get("not_before"),
        )
