"""``GET /api/health``: is storage reachable, is there a routing file the app can use, and an
alerts key that opens ``POST /api/alerts``?

Says which part failed, never how to log in: the answer is anonymous, so a routing problem is
reported by where it is (line and JSON pointer), never by the value found there (it may be a
secret pasted inline). ``forewarn config validate`` prints the whole story.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared import names
from shared.auth import AlertsKeys
from shared.routing.config import ConfigInvalidError, ConfigNotFoundError, load_config
from shared.storage import StorageEndpoints, StorageError
from shared.telemetry import get_logger

_PROBE_TIMEOUT_SECONDS = 3
ROUTING_OK = "ok"

_log = get_logger(__name__)


@dataclass(frozen=True)
class HealthReport:
    storage: dict[str, str]
    routing: str = ROUTING_OK
    alerts_key: str = ROUTING_OK

    @property
    def healthy(self) -> bool:
        storage_ok = all(state == "ok" for state in self.storage.values())
        return storage_ok and self.routing == ROUTING_OK and self.alerts_key == ROUTING_OK

    def to_json(self) -> dict[str, object]:
        return {
            "status": "ok" if self.healthy else "degraded",
            "storage": self.storage,
            "routing": self.routing,
            "alerts_key": self.alerts_key,
        }


def check_health(environ: Mapping[str, str]) -> HealthReport:
    """Storage, routing and the alerts key; every part not ok is also logged as a warning."""
    storage = check_storage(environ)
    # The problem names the setting and what is wrong with it, never its value.
    key_problem = AlertsKeys.from_settings(environ).problem
    report = HealthReport(storage.storage, check_routing(environ), key_problem or ROUTING_OK)
    for part, state in [
        *report.storage.items(),
        ("routing", report.routing),
        ("alerts_key", report.alerts_key),
    ]:
        if state != "ok":
            _log.warning("health: %s %s", part, state)
    return report


def check_routing(environ: Mapping[str, str], *, root: Path | None = None) -> str:
    """``ok``, ``missing (FOREWARN_CONFIG=…)`` or ``invalid (N problems: where…)``.

    A relative path is read from ``root`` (default: the working directory, the app root), as
    the route stage reads it.
    """
    setting = environ.get(names.SETTING_CONFIG, "").strip()
    if not setting:
        return f"missing ({names.SETTING_CONFIG} is not set)"
    path = Path(setting)
    if root is not None and not path.is_absolute():
        path = root / path
    if not path.is_file():
        return f"missing ({names.SETTING_CONFIG}={setting})"
    try:
        load_config(os.fspath(path))
    except ConfigNotFoundError:
        return f"missing ({names.SETTING_CONFIG}={setting}: cannot be read)"
    except ConfigInvalidError as error:
        count = len(error.problems)
        first = error.problems[0]
        where = " ".join(
            part for part in (f"line {first.line}" if first.line else "", first.pointer) if part
        )
        noun = "problem" if count == 1 else "problems"
        return (
            f"invalid ({count} {noun}: {where or 'the whole file'}"
            f"{' and more' if count > 1 else ''}; run forewarn config validate {setting})"
        )
    return ROUTING_OK


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
