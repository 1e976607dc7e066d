"""Which routes take a VM (or an event without VMs): Alertmanager's tree, evaluated per subject.

A route takes a subject when all of its matchers hold and its ``exclude`` (if any) does not.
Children are tried in file order; the first child that takes the subject stops the search unless
it says ``continue: true``. When no child takes it, the parent does. The root route has no
matchers, so every subject reaches at least the default route.

A subject is one VM of an event, or, for an event that names no VMs (a Service Health notice
for a service without VMs, or before enrichment found any), the event itself. Matchers that
only a VM can satisfy (resource group, tags, VM name, advice) never hold for the event itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from shared.models import MaintenanceEvent, TimeWindow, VirtualMachine
from shared.routing.rules import Match, Route, normalise_region


@dataclass(frozen=True)
class Subject:
    event: MaintenanceEvent
    vm: VirtualMachine | None = None

    @property
    def key(self) -> str:
        return self.vm.id if self.vm is not None else EVENT_SUBJECT


EVENT_SUBJECT = "(event)"


def _any_glob(value: str | None, patterns: Iterable[str]) -> bool:
    if value is None:
        return False
    lowered = value.lower()
    return any(fnmatchcase(lowered, pattern.lower()) for pattern in patterns)


def _any_equal(value: str | None, allowed: Iterable[str]) -> bool:
    return value is not None and value.lower() in {item.lower() for item in allowed}


def _windows(subject: Subject) -> list[TimeWindow]:
    vm = subject.vm
    if vm is not None and vm.maintenance is not None:
        return [vm.maintenance.self_service_window, vm.maintenance.scheduled_window]
    event = subject.event
    return [TimeWindow(event.impact_start, event.impact_end)]


def _within(moments: Iterable[datetime | None], now: datetime, span: timedelta) -> bool:
    return any(moment is not None and now <= moment <= now + span for moment in moments)


def _tags_hold(vm: VirtualMachine, wanted: tuple[tuple[str, tuple[str, ...]], ...]) -> bool:
    # Azure tag names are case-insensitive; values are compared case-insensitively too, so
    # that `env: prod` also finds `Env: Prod` (people type tags by hand in the portal).
    tags = {key.lower(): value for key, value in vm.tags.items()}
    return all(_any_glob(tags.get(key.lower()), patterns) for key, patterns in wanted)


def match_holds(match: Match, subject: Subject, now: datetime) -> bool:
    """True when every matcher of ``match`` holds for the subject (an empty match always holds)."""
    event, vm = subject.event, subject.vm
    if vm is None and match.needs_vm:
        return False
    if match.subscriptions:
        subscriptions = [vm.subscription_id] if vm is not None else event.subscription_ids
        if not any(_any_equal(sub, match.subscriptions) for sub in subscriptions):
            return False
    if match.regions:
        wanted = {normalise_region(region) for region in match.regions}
        regions = [vm.location] if vm is not None else event.regions
        if not any(normalise_region(region) in wanted for region in regions):
            return False
    if match.event_kinds and event.kind not in match.event_kinds:
        return False
    if match.incident_types and not _any_equal(event.incident_type, match.incident_types):
        return False
    if match.stages and not _any_equal(event.stage, match.stages):
        return False
    if vm is not None:
        if match.resource_groups and not _any_glob(vm.resource_group, match.resource_groups):
            return False
        if match.vm_names and not _any_glob(vm.name, match.vm_names):
            return False
        if match.tags and not _tags_hold(vm, match.tags):
            return False
        if match.advice_actions and vm.advice.action not in match.advice_actions:
            return False
    windows = _windows(subject)
    if match.window_opens_within is not None and not _within(
        (window.start_dt for window in windows), now, match.window_opens_within
    ):
        return False
    return match.window_closes_within is None or _within(
        (window.end_dt for window in windows), now, match.window_closes_within
    )


def route_takes(route: Route, subject: Subject, now: datetime) -> bool:
    if not match_holds(route.match, subject, now):
        return False
    return route.exclude is None or not match_holds(route.exclude, subject, now)


def routes_for(route: Route, subject: Subject, now: datetime) -> list[Route]:
    """The routes that take ``subject`` under ``route`` (deepest first wins, as Alertmanager)."""
    if not route_takes(route, subject, now):
        return []
    taken: list[Route] = []
    for child in route.routes:
        found = routes_for(child, subject, now)
        if found:
            taken.extend(found)
            if not child.continue_matching:
                break
    return taken or [route]
