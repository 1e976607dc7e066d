"""The identifiers of an alert that end up in ARM URLs, checked against their documented shape.

Enrichment reads, with forewarn's own identity, what an event's subscriptions, tracking id and
resource ids name; the subscription allow-list checks the subscriptions. A value that is not
the shape Azure sends could point a read somewhere the allow-list never saw
(``../../subscriptions/OTHER/…`` in a tracking id, a management-group path as a subscription),
so it makes the payload invalid here, by pointer. Enrichment encodes each value as one path
segment as well (``shared.enrich.arm_paths.path_segment``): the same guard twice.

- Subscription ids are GUIDs (Microsoft's test actions use GUID-shaped placeholders such as
  ``11111111-1111-1111-1111-111111111111``).
- Tracking ids are short tokens: letters, digits, ``_`` and ``-`` (``0NIH-U2O``, ``BC_1-FXZ``),
  and the ``<GUID>``/``{eventTrackingId}`` placeholders of Microsoft's samples.
- Resource ids are ARM ids: ``/subscriptions/{GUID}/resourceGroups/{name}/providers/…`` where
  every segment is a plain name (no dot segment, no ``?#%\\``, no whitespace).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from shared.parsing.errors import Problem
from shared.parsing.resource_id import SEGMENT, mentions_vm, parse_vm_id
from shared.parsing.validate import pointer

GUID: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID: Final = re.compile(rf"^{GUID}$")
_TRACKING_ID: Final = re.compile(r"^[A-Za-z0-9_<>{}-]{1,64}$")
_SUBSCRIPTION_SCOPE: Final = re.compile(rf"^/subscriptions/({GUID})(?:/|$)", re.IGNORECASE)
_RESOURCE_ID: Final = re.compile(
    rf"^/subscriptions/({GUID})/resourceGroups/{SEGMENT}/providers/{SEGMENT}(?:/{SEGMENT})*/?$",
    re.IGNORECASE,
)
# A subscription itself: Service Health events are about one (Microsoft's Activity Log schema,
# ServiceHealth category, gives "resourceId": "/subscriptions/<subscription ID>").
_SUBSCRIPTION_ONLY: Final = re.compile(rf"^/subscriptions/({GUID})/?$", re.IGNORECASE)
_RESOURCE_ID_SHAPE = (
    "must be an ARM resource id (/subscriptions/{GUID}/resourceGroups/…/providers/…) "
    "or a subscription (/subscriptions/{GUID})"
)


_VM_ID_SHAPE = (
    "names a VM but not in a VM's own place: must be /subscriptions/{GUID}/resourceGroups/"
    "{group}/providers/Microsoft.Compute/virtualMachines/{name}"
)


def _resource_id_problem(candidate: str) -> str | None:
    """Why ``candidate`` is not a resource id forewarn can read, else ``None``.

    An id that spells a VM under some other resource (``…/actionGroups/x/subscriptions/…
    /virtualMachines/vm``) is anchored and made of plain segments, yet no VM is what it names;
    enrichment would only be able to call it malformed after the 202, so it is refused here."""
    if not _RESOURCE_ID.match(candidate):
        return _RESOURCE_ID_SHAPE
    if mentions_vm(candidate) and parse_vm_id(candidate) is None:
        return _VM_ID_SHAPE
    return None


def is_subscription_id(text: str) -> bool:
    return bool(_GUID.match(text))


@dataclass(frozen=True)
class Identifiers:
    """What an activity-log event names, each checked: subscriptions, resources, tracking id."""

    subscription_ids: list[str]  # from subscriptionId and the alert targets
    resource_ids: list[str]  # every ARM id it names (scope, entity, resourceId, targets)
    resource_subscription_ids: list[str]  # the subscriptions those resource ids are in

    def all_subscription_ids(self) -> list[str]:
        found: dict[str, str] = {}
        for subscription in [*self.subscription_ids, *self.resource_subscription_ids]:
            found.setdefault(subscription.lower(), subscription)
        return list(found.values())


def check(
    event: dict[str, Any], base: str, target_ids: list[Any], problems: list[Problem]
) -> Identifiers:
    """Every identifier of ``event`` (at ``base``) and the envelope's alert targets.

    Problems are appended; what is returned holds only well-formed values."""
    subscriptions: dict[str, str] = {}
    resources: dict[str, str] = {}

    explicit = event.get("subscriptionId")
    if isinstance(explicit, str) and explicit:
        if is_subscription_id(explicit):
            subscriptions.setdefault(explicit.lower(), explicit)
        else:
            problems.append(Problem(pointer(base, "subscriptionId"), "must be a subscription GUID"))

    for where, candidate in _named_resources(event, base):
        subscription = _SUBSCRIPTION_ONLY.match(candidate)
        if subscription is not None:
            # Names the subscription, not a resource in it.
            subscriptions.setdefault(subscription.group(1).lower(), subscription.group(1))
            continue
        problem = _resource_id_problem(candidate)
        if problem is not None:
            problems.append(Problem(where, problem))
            continue
        # ARM ids are case-insensitive; keep the first spelling seen (the best-cased one).
        resources.setdefault(candidate.lower(), candidate)

    for index, target in enumerate(target_ids):
        where = pointer("/data/essentials/alertTargetIDs", index)
        if not isinstance(target, str):
            continue  # the envelope schema reports it
        scope = _SUBSCRIPTION_SCOPE.match(target)
        if scope is None:
            problems.append(Problem(where, "must be /subscriptions/{GUID} or an ARM resource id"))
            continue
        if "/providers/" in target.lower():
            problem = _resource_id_problem(target)
            if problem is not None:
                problems.append(Problem(where, problem))
                continue
            resources.setdefault(target.lower(), target)
        subscriptions.setdefault(scope.group(1).lower(), scope.group(1))

    properties = event.get("properties")
    tracking = properties.get("trackingId") if isinstance(properties, dict) else None
    if isinstance(tracking, str) and not _TRACKING_ID.match(tracking):
        problems.append(
            Problem(
                pointer(base, "properties", "trackingId"),
                "must be a Service Health tracking id (1 to 64 letters, digits, _ or -)",
            )
        )
    by_resource: dict[str, str] = {}
    for resource_id in resources.values():
        match = _SUBSCRIPTION_SCOPE.match(resource_id)
        if match:
            by_resource.setdefault(match.group(1).lower(), match.group(1))
    return Identifiers(
        list(subscriptions.values()), list(resources.values()), list(by_resource.values())
    )


def _named_resources(event: dict[str, Any], base: str) -> list[tuple[str, str]]:
    """(pointer, id) for every place an activity-log event names its resource."""
    found: list[tuple[str, str]] = []
    authorization = event.get("authorization")
    if isinstance(authorization, dict) and isinstance(authorization.get("scope"), str):
        found.append((pointer(base, "authorization", "scope"), authorization["scope"]))
    properties = event.get("properties")
    if isinstance(properties, dict) and isinstance(properties.get("entity"), str):
        found.append((pointer(base, "properties", "entity"), properties["entity"]))
    if isinstance(event.get("resourceId"), str):
        found.append((pointer(base, "resourceId"), event["resourceId"]))
    return found
