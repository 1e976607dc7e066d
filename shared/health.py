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


def _probe_queue(endpoints: StorageEndpoints) -> str:
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from azure.storage.queue import QueueClient

    options: dict[str, Any] = {
        "connection_timeout": _PROBE_TIMEOUT_SECONDS,
        "read_timeout": _PROBE_TIMEOUT_SECONDS,
        "retry_total": 0,
    }
    try:
        if endpoints.connection_string:
            client = QueueClient.from_connection_string(
                endpoints.connection_string, names.QUEUE_EVENTS, **options
            )
        else:
            client = QueueClient(
                f"{endpoints.queue_url}",
                names.QUEUE_EVENTS,
                credential=endpoints.credential(),
                **options,
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

    options: dict[str, Any] = {
        "connection_timeout": _PROBE_TIMEOUT_SECONDS,
        "read_timeout": _PROBE_TIMEOUT_SECONDS,
        "retry_total": 0,
    }
    try:
        if endpoints.connection_string:
            service = TableServiceClient.from_connection_string(
                endpoints.connection_string, **options
            )
        else:
            service = TableServiceClient(
                f"{endpoints.table_url}", credential=endpoints.credential(), **options
            )
        next(iter(service.list_tables(results_per_page=1)), None)
        return "ok"
    except AzureError as error:
        return f"unreachable ({type(error).__name__})"
