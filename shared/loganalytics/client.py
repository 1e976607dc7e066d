"""One Log Analytics workspace behind ``LogsReader``: a KQL query in, rows as dicts out.

The real adapter is azure-monitor-query's ``LogsQueryClient`` (2.x, logs only), imported on
first use: only the catch-up timer and enrichment with a workspace pay its import (see
docs/decisions.md); ingest and delivery never load it. The workspace comes from
``FOREWARN_LOG_ANALYTICS_WORKSPACE_ID``; without it ``LogsSettings.from_settings`` is ``None``
and every feature here is off.

Credentials are the app's own: the user-assigned managed identity when ``AZURE_CLIENT_ID`` is
set, ``DefaultAzureCredential`` otherwise. A loopback ``FOREWARN_LOG_ANALYTICS_ENDPOINT`` (the
stand-in) gets a fixed stand-in token over plain HTTP instead, so a real token never goes to a
stand-in and a stand-in's token never goes to Azure.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from shared import names
from shared.loganalytics import LogsQueryFailedError, LogsUnavailableError
from shared.loganalytics.kql import KqlQuery
from shared.timeutil import format_utc

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT: Final = "https://api.loganalytics.io"
# The query API of each cloud, by the host of its ARM endpoint (FOREWARN_ARM_ENDPOINT, which
# the Bicep takes from environment()): a sovereign deployment queries its own cloud without a
# second setting to keep in step. Hosts from Azure's published endpoints per cloud.
ENDPOINT_OF_ARM_HOST: Final = {
    "management.azure.com": DEFAULT_ENDPOINT,
    "management.usgovcloudapi.net": "https://api.loganalytics.us",
    "management.chinacloudapi.cn": "https://api.loganalytics.azure.cn",
}
STAND_IN_TOKEN: Final = "forewarn-stand-in-token"  # noqa: S105 (sent only to 127.0.0.1)
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})

Row = dict[str, Any]
TimeSpan = tuple[datetime, datetime] | timedelta


@dataclass(frozen=True)
class LogsSettings:
    workspace_id: str
    endpoint: str = DEFAULT_ENDPOINT
    client_id: str | None = None

    @property
    def is_stand_in(self) -> bool:
        return (urlsplit(self.endpoint).hostname or "") in _LOOPBACK_HOSTS

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> LogsSettings | None:
        workspace = environ.get(names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, "").strip()
        if not workspace:
            return None
        endpoint = environ.get(names.SETTING_LOG_ANALYTICS_ENDPOINT, "").strip()
        if not endpoint:
            endpoint = endpoint_of_cloud(environ.get(names.SETTING_ARM_ENDPOINT, ""))
        client_id = environ.get(names.SETTING_AZURE_CLIENT_ID, "").strip() or None
        return cls(workspace, endpoint.rstrip("/"), client_id)


def endpoint_of_cloud(arm_endpoint: str) -> str:
    """The Log Analytics query endpoint of the cloud whose ARM endpoint this is."""
    host = (urlsplit(arm_endpoint.strip()).hostname or "").lower()
    if not host or host in _LOOPBACK_HOSTS:
        return DEFAULT_ENDPOINT  # unset, or the local stand-in ARM: nothing to follow
    found = ENDPOINT_OF_ARM_HOST.get(host)
    if found is None:
        log.warning(
            "%s %s is not a cloud forewarn knows; querying %s: set %s to this cloud's Log "
            "Analytics query endpoint",
            names.SETTING_ARM_ENDPOINT,
            host,
            DEFAULT_ENDPOINT,
            names.SETTING_LOG_ANALYTICS_ENDPOINT,
        )
        return DEFAULT_ENDPOINT
    return found


@dataclass(frozen=True)
class QueryResult:
    """The first table's rows, and the service's message when it answered only in part."""

    rows: list[Row]
    partial_error: str | None = None


@dataclass
class QueryStats:
    queries: int = 0
    rows: int = 0
    seconds: float = 0.0
    by_name: dict[str, int] = field(default_factory=dict)

    def record(self, name: str, rows: int, seconds: float) -> None:
        self.queries += 1
        self.rows += rows
        self.seconds += seconds
        self.by_name[name] = self.by_name.get(name, 0) + 1


class LogsReader(ABC):
    """Runs one query against the workspace."""

    stats: QueryStats

    @abstractmethod
    def query(self, query: KqlQuery, timespan: TimeSpan) -> QueryResult:
        """Raise ``LogsUnavailableError`` or ``LogsQueryFailedError`` when no rows came back."""


def logs_reader_from_settings(environ: Mapping[str, str]) -> LogsReader | None:
    """The real reader, or ``None`` when no workspace is configured (the feature is off)."""
    settings = LogsSettings.from_settings(environ)
    return LogAnalyticsReader(settings) if settings is not None else None


class _StandInCredential:
    """A ``TokenCredential`` for the loopback stand-in only."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(STAND_IN_TOKEN, 2**31 - 1)


class LogAnalyticsReader(LogsReader):
    """azure-monitor-query's ``LogsQueryClient``, built on first use."""

    def __init__(
        self, settings: LogsSettings, *, read_timeout: float = 60.0, retries: int = 2
    ) -> None:
        self.settings = settings
        self.stats = QueryStats()
        self._read_timeout = read_timeout
        self._retries = retries
        self._client: Any = None
        self._lock = threading.Lock()

    def _credential(self) -> Any:
        if self.settings.is_stand_in:
            return _StandInCredential()
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        if self.settings.client_id:
            return ManagedIdentityCredential(client_id=self.settings.client_id)
        return DefaultAzureCredential()

    def _who(self) -> str:
        if self.settings.client_id:
            return f"the managed identity {names.SETTING_AZURE_CLIENT_ID}={self.settings.client_id}"
        return "run `az login`, or run where a managed identity is"

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                # Imported here, not at module level: see the module docstring.
                from azure.monitor.query import LogsQueryClient

                self._client = LogsQueryClient(
                    self._credential(),
                    endpoint=self.settings.endpoint,
                    connection_timeout=5,
                    read_timeout=self._read_timeout,
                    retry_total=self._retries,
                )
            return self._client

    def query(self, query: KqlQuery, timespan: TimeSpan) -> QueryResult:
        import time

        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )
        from azure.monitor.query import LogsQueryPartialResult

        # The status of the last HTTP answer, for an answer the SDK cannot even read.
        statuses: list[int] = []
        options: dict[str, Any] = {
            "raw_response_hook": lambda reply: statuses.append(reply.http_response.status_code)
        }
        if self.settings.is_stand_in:
            options["enforce_https"] = False  # the stand-in speaks plain HTTP on 127.0.0.1
        started = time.perf_counter()
        try:
            answer = self._get_client().query_workspace(
                self.settings.workspace_id, query.text(), timespan=timespan, **options
            )
        except ClientAuthenticationError as error:
            log.debug("no token for Log Analytics", exc_info=True)
            raise LogsUnavailableError(
                f"no token for Log Analytics ({self._who()}): {_first_line(error.message)}"
            ) from error
        except HttpResponseError as error:
            status = error.status_code
            if status in (400, 404, 422):
                raise LogsQueryFailedError(
                    f"query {query.name} failed: {_message(error)}"
                ) from error
            # No status: the SDK gave up before or without an answer (a redirect loop, an
            # exhausted retry); "answered 0" would send the reader looking for a server.
            answered = f"answered {status}" if status else "failed without an answer"
            raise LogsUnavailableError(
                f"query {query.name}: Log Analytics {answered}: {_message(error)}"
            ) from error
        except (ServiceRequestError, ServiceResponseError) as error:
            raise LogsUnavailableError(
                f"Log Analytics unreachable at {self.settings.endpoint}: {_first_line(str(error))}"
            ) from error
        except ValueError as error:
            # A body the SDK cannot decode (json.JSONDecodeError and its kin): a proxy's or a
            # sign-in page, not the query API.
            log.debug("undecodable Log Analytics answer", exc_info=True)
            status_text = str(statuses[-1]) if statuses else "something"
            raise LogsUnavailableError(
                f"query {query.name}: Log Analytics answered {status_text} with something that "
                f"is not a query result; is {self.settings.endpoint} the query API?"
            ) from error
        partial: str | None = None
        if isinstance(answer, LogsQueryPartialResult):
            tables = answer.partial_data or []
            problem = answer.partial_error
            partial = f"{getattr(problem, 'code', '')}: {getattr(problem, 'message', '')}"[:300]
        else:
            tables = answer.tables
        rows = [_as_dict(table.columns, row) for table in tables[:1] for row in table.rows]
        self.stats.record(query.name, len(rows), time.perf_counter() - started)
        return QueryResult(rows, partial)


def _message(error: Any) -> str:
    """The service's error code and message on one line (the SDK's spans three)."""
    detail = getattr(error, "error", None)
    code, text = getattr(detail, "code", None), getattr(detail, "message", None)
    if code or text:
        return _first_line(": ".join(str(part) for part in (code, text) if part))
    return _first_line(str(getattr(error, "message", None) or error))


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


def _as_dict(columns: list[str], row: Any) -> Row:
    values = list(row)
    return {
        column: format_utc(value) if isinstance(value, datetime) else value
        for column, value in zip(columns, values, strict=False)
    }


class InMemoryLogsReader(LogsReader):
    """Answers from a function of (query name, parameters, timespan), for unit tests."""

    def __init__(
        self, answer: Callable[[str, dict[str, Any], TimeSpan], QueryResult] | None = None
    ) -> None:
        self.stats = QueryStats()
        self.queries: list[tuple[KqlQuery, TimeSpan]] = []
        self.fail_with: Exception | None = None
        self._answer = answer or (lambda name, params, span: QueryResult([]))

    def query(self, query: KqlQuery, timespan: TimeSpan) -> QueryResult:
        self.queries.append((query, timespan))
        if self.fail_with is not None:
            raise self.fail_with
        result = self._answer(query.name, dict(query.parameters), timespan)
        self.stats.record(query.name, len(result.rows), 0.0)
        return result
