"""Should this VM self-serve? Azure's guidance (``guidance``), applied to what forewarn can see.

Source of every rule (cited in each reason): "Should you start maintenance during the
self-service window?" in learn.microsoft.com/azure/virtual-machines/maintenance-notifications.

The guidance says "use self-service maintenance" only when none of its counter-indications
apply: Scheduled Events in use, state on the temporary disk, resized often, short-lived, shut
down often. forewarn sees a few of them on the VM (an enabled auto-shutdown schedule, DevTest
Labs' hidden tags, an ephemeral OS disk); the rest only its owner knows, and says with the
``forewarn-advice`` tag (comma-separated: ``resized-often, ordered``; ``none`` when no
counter-indication applies). The routing configuration may also map an organisation's own tags
to these names (``{"AutoShutdown": "shut-down-often"}``). Every advice lists each
counter-indication as ``applies``, ``clear`` or ``unknown`` (``checks``): a "start it yourself"
with unknown ones says so, and how to tell forewarn.

Precedence, first match wins: nothing planned / already done -> ``none``; self-service window
closed -> ``let_azure``; any counter-indication applies -> ``avoid_self_service``; any reason
to self-serve -> ``self_service``; availability set or scale set -> ``let_azure``; any other VM
-> ``self_service`` (otherwise Azure picks the moment of the restart), on the condition of the
checks it could not make.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from shared.enrich.guidance import (
    COUNTER_INDICATIONS,
    DEFAULT_ADVICE_TAG,
    FACTS,
    GUIDANCE_URL,
    NAMES,
    NONE_APPLY,
    NOTIFICATIONS_URL,
    REASONS_TO_SELF_SERVE,
    SIGNAL_TEXTS,
    TAG_VALUES,
    UNSEEN,
    cite,
)
from shared.models import (
    Advice,
    AdviceAction,
    AdviceReason,
    CounterIndicationCheck,
    MaintenanceStatus,
    VirtualMachine,
)

__all__ = ["GUIDANCE_URL", "AdviceRules", "VmFacts", "advise", "signals_of"]

DEVTEST_LABS_TAG_PREFIX: Final = "hidden-devtestlabs-"
_FALSE_VALUES: Final = frozenset({"", "0", "false", "no", "off", "none"})
_ORDER: Final = COUNTER_INDICATIONS + REASONS_TO_SELF_SERVE


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


@dataclass(frozen=True)
class _Signals:
    found: dict[str, str]  # code -> how forewarn saw it
    described: bool  # the owner's tag describes the VM: what it does not list does not apply


def _code(value: str) -> str | None:
    return TAG_VALUES.get(value.strip().lower().replace("_", "-").replace(" ", "-"))


def _read_signals(vm: VirtualMachine, facts: VmFacts, rules: AdviceRules) -> _Signals:
    found: dict[str, str] = {}
    if facts.auto_shutdown:
        found["shut_down_often"] = "an enabled auto-shutdown schedule"
    tags = {name.lower(): value for name, value in vm.tags.items()}
    if any(name.startswith(DEVTEST_LABS_TAG_PREFIX) for name in tags):
        found.setdefault("shut_down_often", "a DevTest Labs VM")
    if facts.ephemeral_os_disk:
        found["temp_disk_state"] = "an ephemeral OS disk"
    described = False
    for value in tags.get(rules.advice_tag.lower(), "").replace(";", ",").split(","):
        code = _code(value)
        described |= code is not None or value.strip().lower() == NONE_APPLY
        if code is not None:
            found.setdefault(code, f"tag {rules.advice_tag}")
    for tag, signal in rules.signal_tags.items():
        tag_value = tags.get(tag.lower())
        code = _code(signal)
        if code and tag_value is not None and tag_value.strip().lower() not in _FALSE_VALUES:
            found.setdefault(code, f"tag {tag}")
    return _Signals(found, described)


def signals_of(vm: VirtualMachine, facts: VmFacts, rules: AdviceRules) -> list[str]:
    """Every signal code that applies to this VM, counter-indications first, each once."""
    found = _read_signals(vm, facts, rules).found
    return [code for code in _ORDER if code in found]


def _checks(signals: _Signals, facts: VmFacts, rules: AdviceRules) -> list[CounterIndicationCheck]:
    looked = {
        "shut_down_often": "no auto-shutdown schedule or DevTest Labs tag; ",
        "temp_disk_state": "no ephemeral OS disk; " if not facts.ephemeral_os_disk else "",
    }
    checks = []
    for code in COUNTER_INDICATIONS:
        if code in signals.found:
            checks.append(CounterIndicationCheck(code, "applies", signals.found[code]))
        elif signals.described:
            checks.append(
                CounterIndicationCheck(code, "clear", f"not listed in tag {rules.advice_tag}")
            )
        else:
            checks.append(
                CounterIndicationCheck(code, "unknown", looked.get(code, "") + UNSEEN[code])
            )
    return checks


def _short(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def _reason(code: str, text: str, url: str = GUIDANCE_URL) -> AdviceReason:
    return AdviceReason(code, cite(text, url))


def _allowed_now(status: MaintenanceStatus, now: datetime) -> bool:
    window = status.self_service_window
    opens, closes = window.start_dt, window.end_dt
    return (
        status.self_service_allowed
        and (opens is None or opens <= now)
        and (closes is None or now < closes)
    )


def _advice(
    action: AdviceAction,
    reasons: list[AdviceReason],
    *,
    allowed: bool = False,
    checks: list[CounterIndicationCheck] | None = None,
    facts: tuple[str, ...] = (),
) -> Advice:
    return Advice(
        action,
        reasons,
        self_service_advised=action == "self_service",
        self_service_allowed=allowed,
        checks=checks or [],
        facts=[FACTS[code] for code in facts],
    )


# Counter-indications said with a verb of their own; the rest follow one "is".
_VERB_PHRASES: Final = frozenset({"scheduled_events", "temp_disk_state"})


def _or_list(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else "".join(items)


def _unknown_phrase(unknown: list[str]) -> str:
    """ "uses Scheduled Events, keeps state on its temporary disk or is resized often, …" """
    verbs = [NAMES[code] for code in unknown if code in _VERB_PHRASES]
    states = [NAMES[code] for code in unknown if code not in _VERB_PHRASES]
    return _or_list(verbs + ([f"is {_or_list(states)}"] if states else []))


def _unverified(checks: list[CounterIndicationCheck], rules: AdviceRules) -> AdviceReason | None:
    unknown = [check.code for check in checks if check.state == "unknown"]
    if not unknown:
        return None
    checked = "an auto-shutdown schedule, DevTest Labs tags and an ephemeral OS disk"
    return _reason(
        "counter_indications_unknown",
        f"forewarn checked for {checked} and found none; it cannot see whether the VM "
        f"{_unknown_phrase(unknown)}. If any of these applies, don't "
        f"start it yourself; tag {rules.advice_tag} to tell forewarn (e.g. "
        f"'{unknown[0].replace('_', '-')}', or '{NONE_APPLY}' when none applies)",
    )


def advise(vm: VirtualMachine, facts: VmFacts, rules: AdviceRules, now: datetime) -> Advice:
    status = vm.maintenance
    if status is None:
        text = "no maintenance is planned for this VM (its instance view has no "
        text += "maintenanceRedeployStatus)"
        return _advice("none", [_reason("no_maintenance_planned", text, NOTIFICATIONS_URL)])
    if (status.last_result_code or "").lower() == "maintenancecompleted":
        text = "maintenance of this VM has already completed"
        return _advice("none", [_reason("maintenance_completed", text, NOTIFICATIONS_URL)])
    signals = _read_signals(vm, facts, rules)
    checks = _checks(signals, facts, rules)
    window = status.self_service_window
    closes = window.end_dt
    if closes is not None and closes <= now:
        scheduled = status.scheduled_window
        text = (
            f"the self-service window closed at {window.end}; Azure will do the maintenance "
            f"in the scheduled window {scheduled.start} to {scheduled.end}"
        )
        reason = _reason("self_service_window_closed", text, NOTIFICATIONS_URL)
        return _advice(
            "let_azure",
            [reason],
            checks=checks,
            facts=("reboot_duration", "scheduled_events_notice"),
        )
    allowed = _allowed_now(status, now)
    found = signals.found
    avoid = [code for code in COUNTER_INDICATIONS if code in found]
    if avoid:
        reasons = [_reason(code, f"{SIGNAL_TEXTS[code]} (seen: {found[code]})") for code in avoid]
        reverts = {"resized_often", "shut_down_often"} & set(avoid)
        return _advice(
            "avoid_self_service",
            reasons,
            allowed=allowed,
            checks=checks,
            facts=("reboot_duration", "scheduled_events_notice")
            + (("status_can_revert",) if reverts else ()),
        )
    reasons = [_reason(code, SIGNAL_TEXTS[code]) for code in REASONS_TO_SELF_SERVE if code in found]
    kind, group = (
        ("in_scale_set", f"scale set {_short(vm.scale_set)}")
        if vm.scale_set
        else ("in_availability_set", f"availability set {_short(vm.availability_set)}")
        if vm.availability_set
        else (None, None)
    )
    if not reasons and kind is not None:
        text = (
            f"it is in {group}: Azure takes one update domain at a time, at least 30 "
            "minutes apart, so most of it stays available"
        )
        return _advice(
            "let_azure",
            [_reason(kind, text)],
            allowed=allowed,
            checks=checks,
            facts=("update_domain_capacity", "reboot_duration", "scheduled_events_notice"),
        )
    if kind is not None:
        text = f"it is in {group}: follow the plan, one update domain at a time"
        reasons.append(_reason(f"{kind}_follow_plan", text))
    if not reasons:
        text = (
            "it is a VM outside availability sets and scale sets: otherwise Azure restarts it "
            "at a moment it picks in the scheduled window, and that reboot takes longer"
        )
        reasons.append(_reason("single_vm", text))
    unverified = _unverified(checks, rules)
    if unverified is not None:
        reasons.append(unverified)
    reasons += _availability_reasons(status, now)
    return _advice(
        "self_service",
        reasons,
        allowed=allowed,
        checks=checks,
        facts=("reboot_duration", "status_can_revert"),
    )


def _availability_reasons(status: MaintenanceStatus, now: datetime) -> list[AdviceReason]:
    """Whether Azure accepts a start now, and how the last attempt ended."""
    reasons = []
    window = status.self_service_window
    opens = window.start_dt
    if opens is not None and opens > now:
        text = f"self-service opens at {window.start}"
        reasons.append(_reason("self_service_opens_later", text, NOTIFICATIONS_URL))
    elif not status.self_service_allowed:
        text = (
            "Azure does not allow starting it right now "
            "(isCustomerInitiatedMaintenanceAllowed is false)"
        )
        reasons.append(_reason("self_service_not_allowed_now", text, NOTIFICATIONS_URL))
    if status.last_result_code in {"RetryLater", "MaintenanceAborted"}:
        text = f"the last attempt ended {status.last_result_code}" + (
            f": {status.last_message}" if status.last_message else ""
        )
        reasons.append(_reason("last_attempt_failed", text, NOTIFICATIONS_URL))
    return reasons
