"""A stand-in Azure Resource Manager on 127.0.0.1, holding a ``Fleet`` (see arm_fleet.py).

    with ArmStandIn(fleet, latency=0.02) as arm:
        env = {"FOREWARN_ARM_ENDPOINT": arm.base_url, "FOREWARN_ARM_TOKEN": arm.token}

Routes (api-version is required, as ARM does):
    GET  /subscriptions/{s}/providers/Microsoft.Compute/virtualMachines          (paged)
    GET  …/resourceGroups/{g}/providers/Microsoft.Compute/virtualMachines/{vm}   ($expand)
    GET  …/virtualMachines/{vm}/instanceView
    POST …/virtualMachines/{vm}/performMaintenance      202 + Location + Azure-AsyncOperation;
                                                        409 when not allowed (or a scripted
                                                        conflict), 429 + Retry-After scripted
    GET  /subscriptions/{s}/providers/Microsoft.Compute/locations/{l}/operations/{id}
    GET  /subscriptions/{s}/providers/Microsoft.ResourceHealth/events/{t}/impactedResources
    GET  /subscriptions/{s}/providers/Microsoft.DevTestLab/schedules             (paged)
    POST /providers/Microsoft.ResourceGraph/resources      (resourcegraph_server.py, same fleet)

It enforces the throttling rules with its own token buckets (ARM per subscription reads and
writes; Compute per subscription and per VM, per policy) and answers 429 with ``Retry-After``
and the real Compute 429 body, and ``x-ms-ratelimit-remaining-*`` headers on every answer.
Compute's per-policy header names are the stand-in's own (``…/LowCostGetVMSubscription;N``):
Microsoft documents the header but not the token-bucket era's policy names.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from shared.standins.arm_fleet import Fleet, FleetVm, compute_throttling_body
from shared.standins.resourcegraph_server import PATH as GRAPH_PATH
from shared.standins.resourcegraph_server import ResourceGraphStandIn
from shared.standins.stand_in import Answer, Failure, Recorded, StandIn

_SUB = r"/subscriptions/([^/]+)/providers"
_RG = r"/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers"
_VM = _RG + r"/Microsoft\.Compute/virtualMachines/([^/]+)"
ROUTES = [
    (route, method, re.compile(pattern, re.IGNORECASE))
    for route, method, pattern in [
        ("list", "GET", _SUB + r"/Microsoft\.Compute/virtualMachines$"),
        ("view", "GET", _VM + r"/instanceView$"),
        ("get", "GET", _VM + r"$"),
        ("maintain", "POST", _VM + r"/performMaintenance$"),
        ("operation", "GET", _SUB + r"/Microsoft\.Compute/locations/[^/]+/operations/([^/]+)$"),
        ("impacted", "GET", _SUB + r"/Microsoft\.ResourceHealth/events/([^/]+)/impactedResources$"),
        ("schedules", "GET", _SUB + r"/Microsoft\.DevTestLab/schedules$"),
    ]
]
# Compute policy of each route: (policy name, per-subscription (capacity, per s), per VM or None)
COMPUTE_POLICIES: dict[str, tuple[str, tuple[float, float], tuple[float, float] | None]] = {
    "list": ("HighCostGetVM", (900, 300 / 60), None),
    "view": ("LowCostGetVM", (24_000, 8_000 / 60), (36, 12 / 60)),
    "get": ("LowCostGetVM", (24_000, 8_000 / 60), (36, 12 / 60)),
    "maintain": ("UpdateVM", (1_500, 500 / 60), (12, 4 / 60)),
    "operation": ("GetOperation", (15_000, 5_000 / 60), (45, 15 / 60)),
}


@dataclass(frozen=True)
class ArmLimits:
    reads: tuple[float, float] = (250, 25)  # ARM per subscription: capacity, refill per second
    writes: tuple[float, float] = (200, 10)
    compute: bool = True  # enforce COMPUTE_POLICIES too


class _Bucket:
    """The server's own bucket (deliberately not the client's code)."""

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity, self.rate = capacity, rate
        self.level, self.stamp = capacity, time.monotonic()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one is there."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level >= 1:
            self.level -= 1
            return 0.0
        return (1 - self.level) / self.rate


def _error(status: int, code: str, message: str, **headers: str) -> Answer:
    body = json.dumps({"error": {"code": code, "message": message}}).encode("utf-8")
    return Answer(status, body, headers=dict(headers))


class ArmStandIn(StandIn):
    name = "arm"

    def __init__(
        self,
        fleet: Fleet,
        *,
        token: str = "arm-test-token",  # noqa: S107 - a test token
        limits: ArmLimits | None = None,
        latency: float = 0.0,
        page_size: int = 1000,
        operation_polls: int = 1,
        poll_retry_after: str = "0",
        rate_limit_headers: bool = True,
        graph: ResourceGraphStandIn | None = None,
    ) -> None:
        super().__init__()
        self.fleet = fleet
        # Resource Graph lives at the ARM address; by default it answers from the same fleet.
        self.graph = graph or ResourceGraphStandIn(fleet)
        self.token = token
        self.limits = limits or ArmLimits()
        self.latency = latency
        self.page_size = page_size
        self.operation_polls = operation_polls
        self.poll_retry_after = poll_retry_after
        self.rate_limit_headers = rate_limit_headers  # off: clients learn only from 429s
        self.counts: Counter[str] = Counter()  # "<route> <subscription>", "429", "requests"
        self.per_vm_reads: Counter[str] = Counter()
        # ("start" | "end", lower-cased VM id) in the order maintenance started and ended.
        self.maintenance_log: list[tuple[str, str]] = []
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self._operations: dict[str, dict[str, Any]] = {}
        self._state = threading.Lock()

    # -- throttling ----------------------------------------------------------------------

    def _bucket(self, key: tuple[str, ...], limit: tuple[float, float]) -> _Bucket:
        if key not in self._buckets:
            self._buckets[key] = _Bucket(*limit)
        return self._buckets[key]

    def _throttle(
        self, route: str, method: str, subscription: str, vm: str | None, headers: dict[str, str]
    ) -> Answer | None:
        kind = "writes" if method == "POST" else "reads"
        arm = self._bucket(("arm", kind, subscription), getattr(self.limits, kind))
        wait = arm.take()
        headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = str(int(arm.level))
        if wait:
            message = (
                f"Number of '{kind[:-1]}' requests for subscription '{subscription}' "
                f"exceeded. Please try again after '{math.ceil(wait)}' seconds."
            )
            return _error(
                429,
                "SubscriptionRequestsThrottled",
                message,
                **{"Retry-After": str(math.ceil(wait))},
            )
        policy = COMPUTE_POLICIES.get(route)
        if policy is None or not self.limits.compute:
            return None
        name, per_subscription, per_vm = policy
        checks = [(f"{name}Subscription", self._bucket((name, subscription), per_subscription))]
        if per_vm is not None and vm:
            checks.append((f"{name}Resource", self._bucket((name, subscription, vm), per_vm)))
        for label, bucket in checks:
            wait = bucket.take()
            if wait:
                body = compute_throttling_body(label)
                return Answer(
                    429,
                    Answer.json(429, body).body,
                    headers={**headers, "Retry-After": str(math.ceil(wait))},
                )
        headers["x-ms-ratelimit-remaining-resource"] = ",".join(
            f"Microsoft.Compute/{label};{int(bucket.level)}" for label, bucket in checks
        )
        return None

    # -- the answer -------------------------------------------------------------------------

    def fail(self, failure: Failure, request: Recorded) -> Answer:
        status = failure.status or 500
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        if status == 429:
            return Answer(
                429, Answer.json(429, compute_throttling_body("LowCostGetVM")).body, headers=headers
            )
        return _error(status, failure.error or "InternalServerError", "scripted failure", **headers)

    def answer(self, request: Recorded) -> Answer:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if "api-version" not in request.query:
            return _error(400, "MissingApiVersionParameter", "The api-version is required.")
        if request.method == "POST" and request.path.lower() == GRAPH_PATH.lower():
            with self._state:
                self.counts["requests"] += 1
                self.counts["graph"] += 1
            if self.latency:
                self._stopping.wait(self.latency)
            return self.graph.answer(request)
        found = [
            (route, match)
            for route, method, pattern in ROUTES
            if request.method == method and (match := pattern.match(request.path))
        ]
        if not found:
            return _error(404, "InvalidResourceType", f"no route for {request.path}")
        route, match = found[0]
        subscription = match.group(1)
        vm_id = (
            (
                f"/subscriptions/{subscription}/resourceGroups/{match.group(2)}/providers/"
                f"Microsoft.Compute/virtualMachines/{match.group(3)}"
            ).lower()
            if route in ("view", "get", "maintain")
            else None
        )
        if route == "operation":
            vm_id = self._operations.get(match.group(2), {}).get("vm")
        headers: dict[str, str] = {}
        with self._state:
            self.counts["requests"] += 1
            self.counts[f"{route} {subscription}"] += 1
            if vm_id:
                self.per_vm_reads[vm_id] += 1
            throttled = self._throttle(route, request.method, subscription, vm_id, headers)
            if throttled is not None:
                self.counts["429"] += 1
        if self.latency:
            self._stopping.wait(self.latency)
        if throttled is not None:
            return throttled
        if subscription in self.fleet.forbidden:
            return _error(
                403,
                "AuthorizationFailed",
                f"The client does not have authorization to perform action over "
                f"scope '/subscriptions/{subscription}'.",
            )
        answer = getattr(self, f"_{route}")(request, match, vm_id)
        if not self.rate_limit_headers:
            headers = {}
        return Answer(
            answer.status, answer.body, answer.content_type, {**headers, **answer.headers}
        )

    def _page(self, request: Recorded, items: list[Any]) -> Answer:
        skip = int(request.query.get("$skipToken", ["0"])[0])
        if request.path.split("/")[2] in self.fleet.garbled:
            items = [*items, "garbled"]
        page: dict[str, Any] = {"value": items[skip : skip + self.page_size]}
        if skip + self.page_size < len(items):
            version = request.query["api-version"][0]
            page["nextLink"] = (
                f"{self.base_url}{request.path}?api-version={version}"
                f"&$skipToken={skip + self.page_size}"
            )
        return Answer.json(200, page)

    def _vm(self, vm_id: str | None) -> FleetVm | None:
        vm = self.fleet.find(vm_id or "")
        return None if vm is None or vm.deleted else vm

    @staticmethod
    def _not_found(vm_id: str | None) -> Answer:
        name = (vm_id or "").rsplit("/", 1)[-1]
        return _error(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Compute/virtualMachines/{name}' was not found.",
        )

    def _list(self, request: Recorded, match: re.Match[str], _: str | None) -> Answer:
        return self._page(request, [vm.model() for vm in self.fleet.of(match.group(1))])

    def _get(self, request: Recorded, match: re.Match[str], vm_id: str | None) -> Answer:
        vm = self._vm(vm_id)
        if vm is None:
            return self._not_found(vm_id)
        model = vm.model()
        if "instanceView" in request.query.get("$expand", [""])[0]:
            model["properties"]["instanceView"] = vm.instance_view()
        return Answer.json(200, model)

    def _view(self, request: Recorded, match: re.Match[str], vm_id: str | None) -> Answer:
        vm = self._vm(vm_id)
        return self._not_found(vm_id) if vm is None else Answer.json(200, vm.instance_view())

    def _impacted(self, request: Recorded, match: re.Match[str], _: str | None) -> Answer:
        subscription, tracking = match.group(1), match.group(2)
        items: list[dict[str, Any]] = []
        for index, vm_id in enumerate(self.fleet.impacted.get((subscription, tracking), [])):
            vm = self.fleet.find(vm_id)
            items.append(
                {
                    "id": f"/subscriptions/{subscription}/providers/Microsoft.ResourceHealth"
                    f"/events/{tracking}/impactedResources/res-{index}",
                    "name": f"res-{index}",
                    "type": "Microsoft.ResourceHealth/events/impactedResources",
                    "properties": {
                        "targetResourceType": "Microsoft.Compute/VirtualMachines",
                        "targetResourceId": vm_id,
                        "targetRegion": vm.location if vm else "eastus",
                    },
                }
            )
        if items:  # as in the sample: an impacted resource that is not a VM
            items.insert(
                1,
                {
                    "id": "other",
                    "name": "other",
                    "type": "Microsoft.ResourceHealth/events/impactedResources",
                    "properties": {"info": [{"key": "ContainerGrp", "value": "xyz"}]},
                },
            )
        return self._page(request, items)

    def _schedules(self, request: Recorded, match: re.Match[str], _: str | None) -> Answer:
        vms = [vm.schedule() for vm in self.fleet.of(match.group(1)) if vm.auto_shutdown]
        return self._page(request, vms)

    def _maintain(self, request: Recorded, match: re.Match[str], vm_id: str | None) -> Answer:
        vm = self._vm(vm_id)
        if vm is None:
            return self._not_found(vm_id)
        if not (vm.maintenance or {}).get("isCustomerInitiatedMaintenanceAllowed"):
            return _error(
                409,
                "OperationNotAllowed",
                f"Operation 'performMaintenance' is not allowed on VM '{vm.name}'.",
            )
        if vm.maintenance_conflict:
            return _error(
                409,
                "Conflict",
                f"The operation 'performMaintenance' on VM '{vm.name}' conflicts with an "
                "operation in progress.",
            )
        if vm.maintenance_throttle:
            wait = vm.maintenance_throttle.pop(0)
            return Answer(
                429,
                Answer.json(429, compute_throttling_body("UpdateVM")).body,
                headers={"Retry-After": wait},
            )
        if vm.maintenance_unavailable:
            return _error(
                503, "ServiceUnavailable", "The service is unavailable.", **{"Retry-After": "0"}
            )
        operation = uuid.uuid4().hex
        with self._state:
            self._operations[operation] = {"vm": vm_id, "polls": 0}
            self.maintenance_log.append(("start", vm_id or ""))
        url = (
            f"{self.base_url}/subscriptions/{vm.subscription_id}/providers/Microsoft.Compute"
            f"/locations/{vm.location}/operations/{operation}?api-version=2024-07-01"
        )
        return Answer(
            202,
            b"",
            headers={
                "Location": f"{url}&monitor=true",
                "Azure-AsyncOperation": url,
                "Retry-After": self.poll_retry_after,
            },
        )

    def _operation(self, request: Recorded, match: re.Match[str], vm_id: str | None) -> Answer:
        operation = self._operations.get(match.group(2))
        vm = self.fleet.find(vm_id or "")
        if operation is None or vm is None:
            return _error(404, "NotFound", "no such operation")
        with self._state:
            operation["polls"] += 1
            done = operation["polls"] > self.operation_polls
            if done and not operation.get("ended"):
                operation["ended"] = True
                self.maintenance_log.append(("end", vm_id or ""))
        if not done:
            status = "InProgress"
        elif vm.maintenance_fails:
            status = "Failed"
        else:
            status = "Succeeded"
            vm.maintenance = {
                **(vm.maintenance or {}),
                "isCustomerInitiatedMaintenanceAllowed": False,
                "lastOperationResultCode": "MaintenanceCompleted",
            }
        body: dict[str, Any] = {
            "name": match.group(2),
            "status": status,
            "startTime": "2024-07-01T10:00:00+00:00",
        }
        if status == "Failed":
            body["error"] = {"code": "MaintenanceFailed", "message": "The host was not updated."}
        headers = {"Retry-After": self.poll_retry_after} if status == "InProgress" else {}
        return Answer(200, Answer.json(200, body).body, headers=headers)
