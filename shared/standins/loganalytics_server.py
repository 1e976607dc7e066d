"""A stand-in Log Analytics query endpoint on 127.0.0.1, answering the real response shape.

    with LogAnalyticsStandIn() as workspace:
        env = {"FOREWARN_LOG_ANALYTICS_WORKSPACE_ID": workspace.workspace_id,
               "FOREWARN_LOG_ANALYTICS_ENDPOINT": workspace.base_url}
        workspace.add_activity(row)                   # an AzureActivity row
        workspace.add_cpu(vm_id, [(moment, 12.5)])    # InsightsMetrics processor utilisation
        workspace.partial = "EngineError: ..."        # next answers are partial (200 + error)

Route (as ``LogsQueryClient.query_workspace`` calls it):
    POST /v1/workspaces/{workspaceId}/query   {"query", "timespan", "workspaces"}

It answers ``{"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}], "rows"}]}``
(Microsoft's "Log Analytics API response format"), with ``dynamic`` columns as JSON text;
a partial answer is 200 with the tables and ``"error": {"code": "PartialError", ...}``; a
failure is the OneAPI error object with its status. An unknown workspace is 404, a missing
bearer token 401.

It cannot run KQL. It reads the forewarn query's name and its base64 parameter document
(see shared/loganalytics/kql.py) and computes what the constant template computes, from the
rows it holds, inside the request's ``timespan``.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.loganalytics.kql import read_parameters
from shared.standins.stand_in import Answer, Failure, Recorded, StandIn

_ROUTE = re.compile(r"^/v1/workspaces/([^/]+)/query$")

ACTIVITY_COLUMNS = [
    ("TimeGenerated", "datetime"),
    ("CategoryValue", "string"),
    ("SubscriptionId", "string"),
    ("EventDataId", "string"),
    ("CorrelationId", "string"),
    ("OperationNameValue", "string"),
    ("ActivityStatusValue", "string"),
    ("ActivitySubstatusValue", "string"),
    ("Level", "string"),
    ("_ResourceId", "string"),
    ("ResourceGroup", "string"),
    ("ResourceProviderValue", "string"),
    ("EventSubmissionTimestamp", "datetime"),
    ("Properties_d", "dynamic"),
]
QUIETEST_COLUMNS = [("vm", "long"), ("slots", "dynamic")]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _span(timespan: str | None, now: datetime) -> tuple[datetime, datetime]:
    """An ISO 8601 interval as the SDK writes it: start/end, start/PTnS or PTnS."""
    if not timespan:
        return datetime.min.replace(tzinfo=UTC), now
    if "/" in timespan:
        first, second = timespan.split("/", 1)
        start = _parse(first)
        if second.startswith("PT"):
            return start, start + timedelta(seconds=float(second[2:-1]))
        return start, _parse(second)
    return now - timedelta(seconds=float(timespan[2:-1])), now


def slot_of(moment: datetime) -> int:
    """KQL's ``dayofweek`` counts from Sunday: slot = days since Sunday * 24 + hour."""
    return ((moment.weekday() + 1) % 7) * 24 + moment.hour


class LogAnalyticsStandIn(StandIn):
    name = "log-analytics"

    def __init__(self, workspace_id: str | None = None) -> None:
        super().__init__()
        self.workspace_id = workspace_id or str(uuid.uuid4())
        self.activity: list[dict[str, Any]] = []
        self.cpu: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
        self.partial: str | None = None  # a message: every answer is partial while set
        self.queries: list[tuple[str, dict[str, Any], str | None]] = []
        self._data_lock = threading.Lock()

    # ---- what the workspace holds ----------------------------------------------------
    def add_activity(self, row: dict[str, Any]) -> None:
        with self._data_lock:
            self.activity.append(dict(row))

    def add_cpu(self, vm_id: str, samples: Iterable[tuple[datetime, float]]) -> None:
        with self._data_lock:
            self.cpu[vm_id.lower()].extend(samples)

    def forget(self) -> None:
        with self._data_lock:
            self.activity.clear()
            self.cpu.clear()
            self.queries.clear()
            self.partial = None

    # ---- the API ---------------------------------------------------------------------
    def fail(self, failure: Failure, request: Recorded) -> Answer:
        status = failure.status or 500
        code = {400: "BadArgumentError", 403: "InsufficientAccessError", 429: "ThrottledError"}
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        return Answer.json(
            status,
            {"error": {"code": code.get(status, "ServiceError"), "message": f"stand-in {status}"}},
            **headers,
        )

    def answer(self, request: Recorded) -> Answer:
        route = _ROUTE.match(request.path)
        if request.method != "POST" or route is None:
            return Answer.json(404, {"error": {"code": "PathNotFoundError", "message": "no route"}})
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return Answer.json(
                401, {"error": {"code": "AuthorizationRequiredError", "message": "no token"}}
            )
        if route.group(1) != self.workspace_id:
            return Answer.json(
                404, {"error": {"code": "WorkspaceNotFoundError", "message": "no such workspace"}}
            )
        body = request.json()
        try:
            # The name and parameters as forewarn wrote them (see the module docstring).
            name, parameters = read_parameters(str(body.get("query") or ""))
        except ValueError:
            return Answer.json(
                400, {"error": {"code": "BadArgumentError", "message": "unknown query"}}
            )
        start, end = _span(body.get("timespan"), datetime.now(UTC))
        with self._data_lock:
            self.queries.append((name, parameters, body.get("timespan")))
            if name == "catch-up":
                columns, rows = ACTIVITY_COLUMNS, self._activity(parameters, start, end)
            elif name == "quietest-hour":
                columns, rows = QUIETEST_COLUMNS, self._quietest(parameters, start, end)
            elif name == "probe":  # the health route's "is it there?"
                columns, rows = [("ok", "long")], [[1]]
            else:
                return Answer.json(
                    400, {"error": {"code": "BadArgumentError", "message": "unknown query"}}
                )
            partial = self.partial
        document: dict[str, Any] = {
            "tables": [
                {
                    "name": "PrimaryResult",
                    "columns": [{"name": n, "type": t} for n, t in columns],
                    "rows": rows[: len(rows) // 2] if partial else rows,
                }
            ]
        }
        if partial:
            document["error"] = {
                "code": "PartialError",
                "message": "There were some errors when processing your query.",
                "details": [
                    {
                        "code": "EngineError",
                        "message": partial,
                        "innererror": {"code": "E_QUERY_RESULT_SET_TOO_LARGE", "message": partial},
                    }
                ],
            }
        return Answer.json(200, document)

    def _activity(
        self, parameters: dict[str, Any], start: datetime, end: datetime
    ) -> list[list[Any]]:
        subscriptions = {s.lower() for s in parameters.get("subscriptions") or []}
        categories = set(parameters.get("categories") or [])
        chosen = [
            row
            for row in self.activity
            if row.get("CategoryValue") in categories
            and (not subscriptions or str(row.get("SubscriptionId", "")).lower() in subscriptions)
            and start <= _parse(row["TimeGenerated"]) < end
        ]
        chosen.sort(key=lambda row: _parse(row["TimeGenerated"]))
        out = []
        for row in chosen:
            values = []
            for name, kind in ACTIVITY_COLUMNS:
                value = row.get(name)
                if kind == "dynamic" and value is not None and not isinstance(value, str):
                    value = json.dumps(value)
                if kind == "datetime" and value:
                    value = _iso(_parse(value))
                values.append(value)
            out.append(values)
        return out

    def _quietest(
        self, parameters: dict[str, Any], start: datetime, end: datetime
    ) -> list[list[Any]]:
        ids = [str(i).lower() for i in parameters.get("vm_ids") or []]
        rows = []
        for index, vm_id in enumerate(ids):
            sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0])
            for moment, value in self.cpu.get(vm_id, ()):
                if start <= moment < end:
                    slot = sums[slot_of(moment)]
                    slot[0] += value
                    slot[1] += 1
            if sums:
                slots = [
                    [number, round(total / samples, 1), int(samples)]
                    for number, (total, samples) in sorted(sums.items())
                ]
                rows.append([index, json.dumps(slots)])  # dynamic travels as JSON text
        return rows
