"""A stand-in Azure Resource Graph, served by the stand-in ARM at the same address (as the real
one is: ``POST {arm}/providers/Microsoft.ResourceGraph/resources``).

    graph = ResourceGraphStandIn(fleet, quota=15, window=5.0)
    with ArmStandIn(fleet, graph=graph) as arm: ...

It answers exactly forewarn's query texts (shared/enrich/graph_queries.py; any other text is a
400 ``InvalidQuery``, as a query the real service cannot parse is), from the fleet: a VM with
``maintenanceRedeployStatus`` not yet completed is a pending ``microsoft.maintenance/updates``
row (``wave-vms`` adds the VM's ``location``), a VM with auto-shutdown a
``microsoft.devtestlab/schedules`` row, and ``events`` hold the
``servicehealthresources`` event rows. Like the real service it

- takes at most 1,000 subscriptions a request (400 beyond), answers 403
  ``AuthorizationFailed`` when one of them is the fleet's ``forbidden``; without a list
  (tenant scope) answers for every subscription it knows but the forbidden ones, the first
  ``tenant_limit`` of them, with ``x-ms-tenant-subscription-limit-hit: true`` beyond;
- pages by ``$top`` with an opaque ``$skipToken``;
- keeps a per-user quota window (``quota`` queries every ``window`` seconds), says
  ``x-ms-user-quota-remaining`` and ``x-ms-user-quota-resets-after`` (hh:mm:ss, rounded up)
  on every answer and 429 with ``Retry-After`` past it;
- lists what it holds as the service does, a little behind: ``hidden`` VMs (lower-cased ids)
  are left out, as ones deployed since the last index would be.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.enrich.graph_queries import (
    MAINTENANCE_VMS,
    SERVICE_HEALTH_EVENTS,
    SHUTDOWN_SCHEDULES,
    WAVE_VMS,
    read_graph_query,
)
from shared.standins.arm_fleet import Fleet
from shared.standins.stand_in import Answer, Recorded
from shared.timeutil import format_utc, parse_utc

PATH = "/providers/Microsoft.ResourceGraph/resources"
MAX_SUBSCRIPTIONS = 1000
MAX_TOP = 1000
_TOKEN_PREFIX = "fw-skip-"
_DONE = ("MaintenanceCompleted",)


def hms(seconds: float) -> str:
    whole = max(0, math.ceil(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _error(status: int, code: str, message: str, **headers: str) -> Answer:
    body = json.dumps({"error": {"code": code, "message": message}}).encode("utf-8")
    return Answer(status, body, headers=dict(headers))


@dataclass
class ResourceGraphStandIn:
    fleet: Fleet
    quota: int = 15  # queries per window per user (Microsoft's example: 15 every 5 s)
    window: float = 5.0
    events: list[dict[str, Any]] = field(default_factory=list)  # servicehealthresources rows
    hidden: set[str] = field(default_factory=set)
    unavailable: bool = False  # every query answers 503 (the service is down)
    # Refused by Resource Graph alone (403) while ARM reads them: a role without
    # Microsoft.ResourceGraph/resources/read, or a policy in the way.
    refused: set[str] = field(default_factory=set)
    quota_headers: bool = True  # off: a client learns of the quota only from 429s
    tenant_limit: int = 10_000  # tenant scope answers for this many subscriptions at most
    counts: Counter[str] = field(default_factory=Counter)  # "requests", "429", query names
    _window_start: float = -math.inf
    _used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- quota ------------------------------------------------------------------------------

    def _spend(self) -> tuple[bool, dict[str, str], float]:
        """(allowed, quota headers, seconds to the reset)."""
        with self._lock:
            now = time.monotonic()
            if now >= self._window_start + self.window:
                self._window_start, self._used = now, 0
            left = self._window_start + self.window - now
            allowed = self._used < self.quota
            if allowed:
                self._used += 1
            headers = {
                "x-ms-user-quota-remaining": str(self.quota - self._used),
                "x-ms-user-quota-resets-after": hms(left),
            }
            return allowed, headers, left

    def refill(self) -> None:
        """A fresh window (benchmarks: hours of fake time pass between sweeps)."""
        with self._lock:
            self._window_start, self._used = -math.inf, 0

    # -- the answer ---------------------------------------------------------------------------

    def answer(self, request: Recorded) -> Answer:
        self.counts["requests"] += 1
        allowed, headers, left = self._spend()
        if not allowed:
            self.counts["429"] += 1
            if not self.quota_headers:
                headers = {}
            return _error(
                429,
                "RateLimiting",
                "Please provide below info when asking for support: too many requests.",
                **{**headers, "Retry-After": str(math.ceil(left))},
            )
        answer = self._rows(request)
        return Answer(
            answer.status, answer.body, answer.content_type, {**headers, **answer.headers}
        )

    def _rows(self, request: Recorded) -> Answer:
        if self.unavailable:
            return _error(
                503, "ServiceUnavailable", "Resource Graph is unavailable.", **{"Retry-After": "0"}
            )
        try:
            body = request.json()
            query = read_graph_query(str(body["query"]))
            listed = body.get("subscriptions")
            subscriptions = [str(s).lower() for s in listed or []]
            options = body.get("options") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            return _error(
                400, "InvalidQuery", "Query is invalid. Please refer to the documentation."
            )
        if options.get("resultFormat") != "objectArray":
            return _error(400, "BadRequest", "this stand-in answers objectArray only")
        forbidden = {s.lower() for s in (*self.fleet.forbidden, *self.refused)}
        limit_hit = False
        if listed is None:  # tenant scope: every subscription it may read, the rest unseen
            subscriptions = sorted(self.tenant() - forbidden)
            limit_hit = len(subscriptions) > self.tenant_limit
            subscriptions = subscriptions[: self.tenant_limit]
        elif not subscriptions or len(subscriptions) > MAX_SUBSCRIPTIONS:
            return _error(400, "BadRequest", f"1 to {MAX_SUBSCRIPTIONS} subscriptions a query")
        refused = sorted(set(subscriptions) & forbidden)
        if refused:
            return _error(
                403,
                "AuthorizationFailed",
                f"The client does not have authorization over scope '/subscriptions/{refused[0]}'.",
            )
        self.counts[query.name] += 1
        rows = self._table(query.name, set(subscriptions), query.moments.get("since"))
        top = min(int(options.get("$top") or MAX_TOP), MAX_TOP)
        token = str(options.get("$skipToken") or "")
        if token and not token.startswith(_TOKEN_PREFIX):
            return _error(400, "BadRequest", "invalid $skipToken")
        skip = int(token[len(_TOKEN_PREFIX) :]) if token else 0
        page: dict[str, Any] = {
            "totalRecords": len(rows),
            "count": len(rows[skip : skip + top]),
            "data": rows[skip : skip + top],
            "facets": [],
            "resultTruncated": "false",
        }
        if skip + top < len(rows):
            page["$skipToken"] = f"{_TOKEN_PREFIX}{skip + top}"
        if limit_hit:
            return Answer.json(200, page, **{"x-ms-tenant-subscription-limit-hit": "true"})
        return Answer.json(200, page)

    def tenant(self) -> set[str]:
        """Every subscription it knows of: the fleet's and the events'."""
        known = {vm.subscription_id.lower() for vm in self.fleet.vms.values()}
        return known | {str(e.get("subscriptionId", "")).lower() for e in self.events}

    def _table(self, name: str, subscriptions: set[str], since: Any) -> list[dict[str, Any]]:
        vms = [
            vm
            for vm in self.fleet.vms.values()
            if vm.subscription_id.lower() in subscriptions and vm.id.lower() not in self.hidden
        ]
        if name in (MAINTENANCE_VMS, WAVE_VMS):
            rows = [
                {
                    "vmId": vm.id.lower(),
                    "subscriptionId": vm.subscription_id,
                    **({"location": vm.location} if name == WAVE_VMS else {}),
                    "notificationId": "BC_1-FXZ",
                    "status": "Pending",
                    "impactType": "Redeploy",
                }
                for vm in vms
                if vm.maintenance and vm.maintenance.get("lastOperationResultCode") not in _DONE
            ]
        elif name == SHUTDOWN_SCHEDULES:
            rows = [
                {"vmId": vm.id.lower(), "subscriptionId": vm.subscription_id}
                for vm in vms
                if vm.auto_shutdown
            ]
        elif name == SERVICE_HEALTH_EVENTS:
            return [
                event
                for event in self.events
                if str(event.get("subscriptionId", "")).lower() in subscriptions
                and (since is None or parse_utc(str(event["lastUpdate"])) >= since)
            ]
        else:  # pragma: no cover - read_graph_query knows no other
            rows = []
        return sorted(rows, key=lambda row: str(row["vmId"]))


def service_health_event(
    subscription: str,
    tracking_id: str,
    *,
    last_update: datetime,
    title: str = "Planned maintenance for Virtual Machines in East US",
    status: str = "Active",
    event_type: str = "PlannedMaintenance",
    regions: tuple[str, ...] = ("East US",),
    service: str = "Virtual Machines",
) -> dict[str, Any]:
    """A ``servicehealthresources`` event row as forewarn's query projects it (capitalised
    properties, as Microsoft's samples read them; times in ISO 8601)."""
    return {
        "id": f"/subscriptions/{subscription}/providers/Microsoft.ResourceHealth/events/"
        f"{tracking_id}",
        "name": tracking_id,
        "subscriptionId": subscription,
        "lastUpdate": format_utc(last_update),
        "properties": {
            "TrackingId": tracking_id,
            "EventType": event_type,
            "EventSource": "ServiceHealth",
            "Status": status,
            "Title": title,
            "Summary": "<p>Azure will perform maintenance requiring a reboot of your VMs.</p>",
            "Level": "Informational",
            "ImpactStartTime": format_utc(last_update + timedelta(days=7)),
            "ImpactMitigationTime": format_utc(last_update + timedelta(days=37)),
            "LastUpdateTime": format_utc(last_update),
            "Impact": [
                {
                    "ImpactedService": service,
                    "ImpactedRegions": [
                        {"ImpactedRegion": region, "Status": status} for region in regions
                    ],
                }
            ],
        },
    }
