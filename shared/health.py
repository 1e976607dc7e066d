"""``GET /api/health``: is storage reachable, is there a routing file the app can use, an
alerts key that opens ``POST /api/alerts``, is every channel secret the routing file names set,
does the Log Analytics workspace (when one is configured) answer, and is the Scheduled Events
key usable (when one is set), and the board's read key and Slack's signing secret (when set)?
Also whether Resource Graph is on (configured, not probed: either state is healthy).

Says which part failed, never how to log in: the answer is anonymous, so a routing problem is
reported by where it is (line and JSON pointer), never by the value found there (it may be a
secret pasted inline), and a secret by its setting's name and ``set`` or ``missing``.
``forewarn config validate`` prints the whole story.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from shared import names
from shared.auth import AlertsKeys
from shared.board import KEY_OFF as BOARD_KEY_OFF
from shared.board import KEY_OK as BOARD_KEY_OK
from shared.board import key_state as board_key_state
from shared.enrich.resource_graph import GRAPH_ON, resource_graph_state
from shared.loganalytics import LogsError
from shared.loganalytics.client import LogAnalyticsReader, LogsSettings
from shared.loganalytics.kql import KqlQuery
from shared.retention import RETENTION_INVALID, retention_state
from shared.routing.config import ConfigInvalidError, ConfigNotFoundError, load_config
from shared.routing.rules import RoutingConfig
from shared.scheduled import KEY_OFF, KEY_OK, key_state
from shared.slack_interactivity import SECRET_OFF as SLACK_OFF
from shared.slack_interactivity import SECRET_OK as SLACK_OK
from shared.slack_interactivity import signing_secret_state
from shared.storage import StorageEndpoints, StorageError
from shared.telemetry import get_logger

_PROBE_TIMEOUT_SECONDS = 3
ROUTING_OK = "ok"
SECRET_SET: Final = "set"  # noqa: S105 (a state word, never a value)
LOGS_OFF: Final = "off"
LOGS_REACHABLE: Final = "reachable"
# The health route is anonymous: a workspace answer is kept this long, so that a caller who
# polls it cannot turn it into a stream of Log Analytics queries.
LOGS_PROBE_TTL_SECONDS: Final = 300.0
PROBE_QUERY: Final = KqlQuery("probe", "print ok = 1")
# What App Service hands the app when it could not resolve a Key Vault reference: the text.
_UNRESOLVED_REFERENCE: Final = "@microsoft.keyvault("

_log = get_logger(__name__)


@dataclass(frozen=True)
class HealthReport:
    storage: dict[str, str]
    routing: str = ROUTING_OK
    alerts_key: str = ROUTING_OK
    secrets: dict[str, str] = field(default_factory=dict)
    log_analytics: str = LOGS_OFF
    # The forwarders' key (shared/scheduled): "off" when unset (the feature is not used).
    scheduled_events_key: str = KEY_OFF
    # The board page's read key (shared/board.py): "off" when unset (no board page).
    board_read_key: str = BOARD_KEY_OFF
    # Slack's signing secret (shared/slack_interactivity.py): "off" when unset (no buttons).
    slack_signing_secret: str = SLACK_OFF
    # FOREWARN_RESOURCE_GRAPH as configured, "on" or "off": either is healthy (off, or refused
    # at run time, discovery reads VM by VM); not a probe, as Resource Graph is read per pass.
    resource_graph: str = GRAPH_ON
    # How long rows live (shared/retention.py): "90 d, audit 365 d", or "invalid (…)" when a
    # setting does not parse (the sweep then deletes nothing: degraded, to be seen and fixed).
    retention: str = ""

    @property
    def healthy(self) -> bool:
        storage_ok = all(state == "ok" for state in self.storage.values())
        secrets_ok = all(state == SECRET_SET for state in self.secrets.values())
        logs_ok = self.log_analytics in (LOGS_OFF, LOGS_REACHABLE)
        return (
            storage_ok
            and self.routing == ROUTING_OK
            and self.alerts_key == ROUTING_OK
            and secrets_ok
            and logs_ok
            and self.scheduled_events_key in (KEY_OK, KEY_OFF)
            and self.board_read_key in (BOARD_KEY_OK, BOARD_KEY_OFF)
            and self.slack_signing_secret in (SLACK_OK, SLACK_OFF)
            and not self.retention.startswith(RETENTION_INVALID)
        )

    def to_json(self) -> dict[str, object]:
        return {
            "status": "ok" if self.healthy else "degraded",
            "storage": self.storage,
            "routing": self.routing,
            "alerts_key": self.alerts_key,
            "secrets": self.secrets,
            "log_analytics": self.log_analytics,
            "scheduled_events_key": self.scheduled_events_key,
            "board_read_key": self.board_read_key,
            "slack_signing_secret": self.slack_signing_secret,
            "resource_graph": self.resource_graph,
            "retention": self.retention,
        }


def check_health(environ: Mapping[str, str]) -> HealthReport:
    """Every part; each one not ok is also logged as a warning."""
    storage = check_storage(environ)
    # The problem names the setting and what is wrong with it, never its value.
    key_problem = AlertsKeys.from_settings(environ).problem
    routing, config = _routing(environ, None)
    report = HealthReport(
        storage.storage,
        routing,
        key_problem or ROUTING_OK,
        check_secrets(environ, config) if config is not None else {},
        check_log_analytics(environ),
        key_state(environ)[1],
        board_key_state(environ),
        signing_secret_state(environ),
        resource_graph_state(environ),
        retention_state(environ),
    )
    for part, state in [
        *report.storage.items(),
        ("routing", report.routing),
        ("alerts_key", report.alerts_key),
        *report.secrets.items(),
        ("log_analytics", report.log_analytics),
        ("scheduled_events_key", report.scheduled_events_key),
        ("board_read_key", report.board_read_key),
        ("slack_signing_secret", report.slack_signing_secret),
        # The retention says its days when it is fine: only "invalid (…)" is worth a warning.
        *(
            [("retention", report.retention)]
            if report.retention.startswith(RETENTION_INVALID)
            else []
        ),
    ]:
        if state not in ("ok", SECRET_SET, LOGS_OFF, LOGS_REACHABLE, KEY_OFF):
            _log.warning("health: %s %s", part, state)
    return report


def check_secrets(environ: Mapping[str, str], config: RoutingConfig) -> dict[str, str]:
    """Each setting a receiver's ``*_setting`` option names: ``set``, ``missing`` or
    ``unresolved Key Vault reference``. A missing one would otherwise show only as dead
    letters, after every retry of every message to that receiver."""
    found: dict[str, str] = {}
    for receiver in config.receivers.values():
        for option, setting in sorted(receiver.options.items()):
            if not option.endswith("_setting") or not setting:
                continue
            value = environ.get(setting, "").strip()
            if not value:
                found[setting] = "missing"
            elif value.lower().startswith(_UNRESOLVED_REFERENCE):
                found[setting] = "unresolved Key Vault reference"
            else:
                found[setting] = SECRET_SET
    return dict(sorted(found.items()))


_logs_probes: dict[LogsSettings, tuple[float, str]] = {}
_logs_lock = threading.Lock()


def check_log_analytics(environ: Mapping[str, str]) -> str:
    """``off`` (no workspace set), ``reachable``, or ``unreachable (why)``: one tiny query with
    a short timeout and no retries, its answer kept for ``LOGS_PROBE_TTL_SECONDS``."""
    settings = LogsSettings.from_settings(environ)
    if settings is None:
        return LOGS_OFF
    with _logs_lock:
        kept = _logs_probes.get(settings)
        if kept is not None and time.monotonic() - kept[0] < LOGS_PROBE_TTL_SECONDS:
            return kept[1]
    reader = LogAnalyticsReader(settings, read_timeout=_PROBE_TIMEOUT_SECONDS, retries=0)
    try:
        reader.query(PROBE_QUERY, timedelta(minutes=5))
        state = LOGS_REACHABLE
    except LogsError as error:
        # The class only: the answer is anonymous; the log line has the whole message.
        _log.warning("health: Log Analytics query failed: %s", error)
        state = f"unreachable ({type(error).__name__})"
    with _logs_lock:
        _logs_probes[settings] = (time.monotonic(), state)
    return state


def check_routing(environ: Mapping[str, str], *, root: Path | None = None) -> str:
    """``ok``, ``missing (FOREWARN_CONFIG=…)`` or ``invalid (N problems: where…)``.

    A relative path is read from ``root`` (default: the working directory, the app root), as
    the route stage reads it.
    """
    return _routing(environ, root)[0]


def _routing(environ: Mapping[str, str], root: Path | None) -> tuple[str, RoutingConfig | None]:
    setting = environ.get(names.SETTING_CONFIG, "").strip()
    if not setting:
        return f"missing ({names.SETTING_CONFIG} is not set)", None
    path = Path(setting)
    if root is not None and not path.is_absolute():
        path = root / path
    if not path.is_file():
        return f"missing ({names.SETTING_CONFIG}={setting})", None
    try:
        config = load_config(os.fspath(path))
    except ConfigNotFoundError:
        return f"missing ({names.SETTING_CONFIG}={setting}: cannot be read)", None
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
        ), None
    return ROUTING_OK, config


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
