"""Should this VM self-serve? Azure's guidance, as data and a few ordered rules.

Source of every rule (cited in each reason): "Should you start maintenance during the
self-service window?" in learn.microsoft.com/azure/virtual-machines/maintenance-notifications.

- Don't: availability set or scale set (Azure walks update domains one at a time, at least 30
  minutes apart), shut down often (auto-shutdown, DevTest Labs), resized often, short-lived
  (deleted before the wave ends), state on the ephemeral disk that must survive (self-service
  maintenance redeploys the VM to another host), already handled by Scheduled Events.
- Do: you must announce an exact window, finish by a date, control the order (multi-tier
  apps), or need more than 30 minutes between update domains.

Signals come from the VM itself (availability set, scale set, ephemeral OS disk, an enabled
``Microsoft.DevTestLab/schedules`` auto-shutdown, DevTest Labs' hidden tags) and from tags: the
``forewarn-advice`` tag lists signal names (``short-lived, scheduled-events``), and the routing
configuration may map an organisation's own tags to signals (``{"AutoShutdown": "auto-shutdown"}``).

Precedence, first match wins: nothing planned / already done -> ``none``; self-service window
closed -> ``let_azure``; any "don't" signal -> ``avoid_self_service``; any "do" signal ->
``self_service``; availability set or scale set -> ``let_azure``; a single VM -> ``self_service``
(otherwise Azure picks the moment of the restart).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from shared.models import Advice, VirtualMachine

GUIDANCE_URL: Final = (
    "https://learn.microsoft.com/azure/virtual-machines/maintenance-notifications"
    "#should-you-start-maintenance-during-the-self-service-window"
)
NOTIFICATIONS_URL: Final = (
    "https://learn.microsoft.com/azure/virtual-machines/maintenance-notifications"
)
DEFAULT_ADVICE_TAG: Final = "forewarn-advice"
DEVTEST_LABS_TAG_PREFIX: Final = "hidden-devtestlabs-"
_FALSE_VALUES: Final = frozenset({"", "0", "false", "no", "off", "none"})

# Signal -> (kind, why). "avoid" signals say don't self-serve; "do" signals say do.
SIGNALS: Final[Mapping[str, tuple[str, str]]] = {
    "auto-shutdown": (
        "avoid",
        "it is shut down on a schedule (auto-shutdown); Azure's guidance is not to self-serve "
        "VMs that are shut down often",
    ),
    "devtest-labs": (
        "avoid",
        "it is a DevTest Labs VM with a shutdown schedule; Azure's guidance is not to "
        "self-serve VMs that are shut down often",
    ),
    "resized-often": (
        "avoid",
        "it is resized often, and a resize can already move it to an updated host",
    ),
    "short-lived": (
        "avoid",
        "it is short-lived and likely deleted before the maintenance wave ends",
    ),
    "ephemeral-state": (
        "avoid",
        "it keeps state on its ephemeral disk; self-service maintenance redeploys the VM to "
        "another host and that disk's content is lost",
    ),
    "scheduled-events": (
        "avoid",
        "its workload already handles Scheduled Events for graceful failover",
    ),
    "announce-window": (
        "do",
        "you must announce an exact maintenance window to your users",
    ),
    "finish-by": ("do", "the maintenance must be finished by a given date"),
    "control-order": (
        "do",
        "the order matters (multi-tier application): start each tier yourself",
    ),
    "longer-gap": (
        "do",
        "you need more than 30 minutes between update domains",
    ),
}


@dataclass(frozen=True)
class AdviceRules:
    """Which tags carry signals; the routing configuration may set these."""

    advice_tag: str = DEFAULT_ADVICE_TAG
    signal_tags: Mapping[str, str] = field(default_factory=dict)  # tag name -> signal name


@dataclass(frozen=True)
class VmFacts:
    """What advice needs beyond the ``VirtualMachine`` record."""

    ephemeral_os_disk: bool = False
    auto_shutdown: bool = False


def _cite(text: str, url: str = GUIDANCE_URL) -> str:
    return f"{text[0].upper()}{text[1:]} (source: {url})"


def _normalise(signal: str) -> str:
    return signal.strip().lower().replace("_", "-").replace(" ", "-")


def signals_of(vm: VirtualMachine, facts: VmFacts, rules: AdviceRules) -> list[str]:
    """Every signal that applies to this VM, in ``SIGNALS`` order, each once."""
    found: set[str] = set()
    if facts.auto_shutdown:
        found.add("auto-shutdown")
    if facts.ephemeral_os_disk:
        found.add("ephemeral-state")
    tags = {name.lower(): value for name, value in vm.tags.items()}
    if any(name.startswith(DEVTEST_LABS_TAG_PREFIX) for name in tags):
        found.add("devtest-labs")
    for value in tags.get(rules.advice_tag.lower(), "").replace(";", ",").split(","):
        if _normalise(value) in SIGNALS:
            found.add(_normalise(value))
    for tag, signal in rules.signal_tags.items():
        tag_value = tags.get(tag.lower())
        present = tag_value is not None and tag_value.strip().lower() not in _FALSE_VALUES
        if present and _normalise(signal) in SIGNALS:
            found.add(_normalise(signal))
    return [signal for signal in SIGNALS if signal in found]


def _short(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def advise(vm: VirtualMachine, facts: VmFacts, rules: AdviceRules, now: datetime) -> Advice:
    status = vm.maintenance
    if status is None:
        return Advice(
            "none",
            [
                "No maintenance is planned for this VM (its instance view has "
                f"no maintenanceRedeployStatus) (source: {NOTIFICATIONS_URL})"
            ],
        )
    if (status.last_result_code or "").lower() == "maintenancecompleted":
        return Advice(
            "none", [_cite("maintenance of this VM has already completed", NOTIFICATIONS_URL)]
        )
    window = status.self_service_window
    closes = window.end_dt
    if closes is not None and closes <= now:
        scheduled = status.scheduled_window
        return Advice(
            "let_azure",
            [
                _cite(
                    f"the self-service window closed at {window.end}; Azure will do the "
                    f"maintenance in the scheduled window {scheduled.start} to {scheduled.end}",
                    NOTIFICATIONS_URL,
                )
            ],
        )
    signals = signals_of(vm, facts, rules)
    avoid = [SIGNALS[s][1] for s in signals if SIGNALS[s][0] == "avoid"]
    if avoid:
        return Advice("avoid_self_service", [_cite(reason) for reason in avoid])
    reasons = [_cite(SIGNALS[s][1]) for s in signals if SIGNALS[s][0] == "do"]
    group = (
        f"scale set {_short(vm.scale_set)}"
        if vm.scale_set
        else f"availability set {_short(vm.availability_set)}"
        if vm.availability_set
        else None
    )
    if not reasons and group:
        return Advice(
            "let_azure",
            [
                _cite(
                    f"it is in {group}: Azure updates one update domain at a time, at least 30 "
                    "minutes apart, so the group stays available"
                )
            ],
        )
    if group:
        reasons.append(_cite(f"it is in {group}: follow the plan's update-domain order"))
    if not reasons:
        reasons.append(
            _cite(
                "it is a single VM outside availability sets and scale sets: otherwise Azure "
                "restarts it at a moment it picks in the scheduled window"
            )
        )
    opens = window.start_dt
    if not status.self_service_allowed and opens is not None and opens > now:
        reasons.append(_cite(f"self-service opens at {window.start}", NOTIFICATIONS_URL))
    elif not status.self_service_allowed:
        reasons.append(
            _cite(
                "Azure does not allow starting it right now "
                "(isCustomerInitiatedMaintenanceAllowed is false)",
                NOTIFICATIONS_URL,
            )
        )
    if status.last_result_code in {"RetryLater", "MaintenanceAborted"}:
        reasons.append(
            _cite(
                f"the last attempt ended {status.last_result_code}"
                + (f": {status.last_message}" if status.last_message else ""),
                NOTIFICATIONS_URL,
            )
        )
    return Advice("self_service", reasons)
