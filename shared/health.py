"""``GET /api/health``: is storage reachable? Says which part failed, never how to log in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import names
from shared.storage import StorageEndpoints, StorageError

_PROBE_TIMEOUT_SECONDS = 3


@dataclass(frozen=True)
class HealthReport:
    storage: dict[str, str]

    @property
    def healthy(self) -> bool:
        return all(state == "ok" for state in self.storage.values())

    def to_json(self) -> dict[str, object]:
        return {"status": "ok" if self.healthy else "degraded", "storage": self.storage}


def check_storage(environ: Mapping[str, str]) -> HealthReport:
    """Touch the events queue and the idempotency table with short timeouts."""
    try:
        endpoints = StorageEndpoints.from_settings(environ)
    except StorageError:
        return HealthReport({"queues": "not configured", "tables": "not configured"})
    return HealthReport({"queues": _probe_queue(endpoints), "tables": _probe_table(endpoints)})


# Short timeouts and no retries: a health check that hangs is worse than one that says no.
_PROBE_OPTIONS: dict[str, Any] = {
    "connection_timeout": _PROBE_TIMEOUT_SECONDS,
    "read_timeout": _PROBE_TIMEOUT_SECONDS,
    "retry_total": 0,
}


def _probe_queue(endpoints: StorageEndpoints) -> str:
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from azure.storage.queue import QueueClient

    try:
        if endpoints.connection_string:
            client = QueueClient.from_connection_string(
                endpoints.connection_string, names.QUEUE_EVENTS, **_PROBE_OPTIONS
            )
        else:
            client = QueueClient(
                f"{endpoints.queue_url}",
                names.QUEUE_EVENTS,
                credential=endpoints.credential(),
                **_PROBE_OPTIONS,
            )
        client.get_queue_properties()
        return "ok"
    except ResourceNotFoundError:
        return "ok"  # reachable; the queue is created on first write
    except AzureError as error:
        return f"unreachable ({type(error).__name__})"


def _probe_table(endpoints: StorageEndpoints) -> str:
    from azure.core.exceptions import AzureError
    from azure.data.tables import TableServiceClient

    try:
        if endpoints.connection_string:
            service = TableServiceClient.from_connection_string(
                endpoints.connection_string, **_PROBE_OPTIONS
            )
        else:
            service = TableServiceClient(
                f"{endpoints.table_url}", credential=endpoints.credential(), **_PROBE_OPTIONS
            )
        next(iter(service.list_tables(results_per_page=1)), None)
        return "ok"
    except AzureError as error:
        return f"unreachable ({type(error).__name__})"
