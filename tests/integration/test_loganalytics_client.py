"""The real ``LogsQueryClient`` (azure-monitor-query) against the stand-in workspace on 127.0.0.1.

GIVEN a workspace answering in full, in part, or with an error
WHEN  forewarn's reader runs a query through the SDK, pointed there by its ``endpoint``
THEN  rows come back as dicts (datetimes as ISO 8601 UTC, dynamic as JSON text), a partial
      answer keeps its rows and says why, and a failure is one named error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

import pytest

from shared import names
from shared.loganalytics import LogsQueryFailedError, LogsUnavailableError
from shared.loganalytics.activity import activity_query
from shared.loganalytics.client import (
    STAND_IN_TOKEN,
    LogAnalyticsReader,
    LogsSettings,
    logs_reader_from_settings,
)
from shared.standins.http_stub import StubServer, reply
from shared.standins.loganalytics_server import LogAnalyticsStandIn
from shared.standins.stand_in import Failure, closed_port

SUBSCRIPTION = "11111111-1111-1111-1111-111111111111"
NOW = datetime.now(UTC).replace(microsecond=0)


def activity_row(minutes_ago: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "TimeGenerated": (NOW - timedelta(minutes=minutes_ago)).isoformat(),
        "CategoryValue": "ServiceHealth",
        "SubscriptionId": SUBSCRIPTION,
        "EventDataId": f"event-{minutes_ago}",
        "OperationNameValue": "Microsoft.ServiceHealth/maintenance/action",
        "ActivityStatusValue": "Active",
        "Level": "Informational",
        "Properties_d": {"title": f"notice {minutes_ago}", "trackingId": "ABC-123"},
    }
    row.update(overrides)
    return row


@pytest.fixture
def workspace() -> Iterator[LogAnalyticsStandIn]:
    with LogAnalyticsStandIn() as stand_in:
        yield stand_in  # type: ignore[misc]


def reader_for(workspace: LogAnalyticsStandIn) -> LogAnalyticsReader:
    reader = logs_reader_from_settings(
        {
            names.SETTING_LOG_ANALYTICS_WORKSPACE_ID: workspace.workspace_id,
            names.SETTING_LOG_ANALYTICS_ENDPOINT: workspace.base_url,
        }
    )
    assert isinstance(reader, LogAnalyticsReader)
    return reader


def test_off_without_a_workspace_setting() -> None:
    assert logs_reader_from_settings({}) is None
    assert logs_reader_from_settings({names.SETTING_LOG_ANALYTICS_WORKSPACE_ID: "  "}) is None


def test_rows_come_back_as_dicts_through_the_real_client(workspace: LogAnalyticsStandIn) -> None:
    workspace.add_activity(activity_row(90))
    workspace.add_activity(activity_row(30))
    workspace.add_activity(activity_row(10, SubscriptionId="22222222-2222-2222-2222-222222222222"))

    result = reader_for(workspace).query(
        activity_query([SUBSCRIPTION]), (NOW - timedelta(hours=1), NOW)
    )

    assert result.partial_error is None
    assert [row["EventDataId"] for row in result.rows] == ["event-30"]
    row = result.rows[0]
    assert row["TimeGenerated"] == (NOW - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert json.loads(row["Properties_d"])["title"] == "notice 30"
    request = workspace.requests[-1]
    assert request.path == f"/v1/workspaces/{workspace.workspace_id}/query"
    assert request.headers["Authorization"] == f"Bearer {STAND_IN_TOKEN}"
    # the window went as the request's timespan, not inside the query text
    assert "/" in request.json()["timespan"]
    assert NOW.strftime("%Y-%m-%dT%H:%M") not in request.json()["query"]


def test_partial_answer_keeps_its_rows_and_says_why(workspace: LogAnalyticsStandIn) -> None:
    for minutes in (50, 40, 30, 20):
        workspace.add_activity(activity_row(minutes))
    workspace.partial = "result set too large"

    result = reader_for(workspace).query(activity_query([]), (NOW - timedelta(hours=1), NOW))

    assert len(result.rows) == 2
    assert result.partial_error is not None
    assert "PartialError" in result.partial_error


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, LogsQueryFailedError),
        (403, LogsUnavailableError),
        (429, LogsUnavailableError),
        (503, LogsUnavailableError),
    ],
)
def test_a_failed_query_is_one_named_error(
    workspace: LogAnalyticsStandIn, status: int, error: type[Exception]
) -> None:
    workspace.script.always(Failure(status=status, retry_after="0"))
    with pytest.raises(error):
        reader_for(workspace).query(activity_query([]), (NOW - timedelta(hours=1), NOW))


def test_unreachable_workspace_is_unavailable() -> None:
    settings = LogsSettings("ws", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(LogsUnavailableError):
        LogAnalyticsReader(settings).query(activity_query([]), timedelta(hours=1))


def test_a_real_endpoint_never_gets_the_stand_in_token() -> None:
    assert not LogsSettings("ws", "https://api.loganalytics.io").is_stand_in
    assert LogsSettings("ws", "http://127.0.0.1:1234").is_stand_in
    assert not LogsSettings("ws", "http://127.0.0.1.example.com").is_stand_in


def test_importing_the_library_does_not_load_the_sdk() -> None:
    """Ingest and delivery import shared.*; only a query loads azure-monitor-query."""
    import subprocess

    code = (
        "import sys, shared.loganalytics.catchup, shared.loganalytics.client;"
        "print('azure.monitor.query' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _answering(status: int, body: bytes, content_type: str) -> StubServer:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        reply(handler, status, body, content_type)

    return StubServer(respond)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "says"),
    [
        # GIVEN a proxy's error page instead of the API's answer
        (502, b"<html>Bad Gateway</html>", "text/html", "answered 502 with something"),
        (200, b"<html>sign in</html>", "text/html", "answered 200 with something"),
        # GIVEN the API's own error document (its message spans three lines)
        (
            403,
            b'{"error": {"code": "InsufficientAccessError", "message": "no"}}',
            "application/json",
            "answered 403: InsufficientAccessError",
        ),
    ],
)
def test_a_failed_query_says_what_failed_in_one_line(
    status: int, body: bytes, content_type: str, says: str
) -> None:
    # WHEN the reader queries it
    with _answering(status, body, content_type) as server:
        settings = LogsSettings("ws", server.url)
        with pytest.raises(LogsUnavailableError) as raised:
            LogAnalyticsReader(settings).query(activity_query([]), timedelta(hours=1))
    # THEN one named error, one line, saying what answered what; never "answered 0"
    message = str(raised.value)
    assert says in message
    assert "\n" not in message
    assert "answered 0" not in message


def test_an_sdk_error_without_an_answer_says_so_and_never_answered_0() -> None:
    """The SDK raises HttpResponseError with no status when it gave up before an answer."""
    from azure.core.exceptions import HttpResponseError

    class NoAnswer:
        def query_workspace(self, *args: object, **kwargs: object) -> None:
            raise HttpResponseError(message="Operation returned no response\nsecond line")

    # GIVEN a reader whose client fails without any HTTP answer
    reader = LogAnalyticsReader(LogsSettings("ws", "https://api.loganalytics.io"))
    reader._client = NoAnswer()
    # WHEN it queries THEN one line says it failed without an answer
    with pytest.raises(LogsUnavailableError) as raised:
        reader.query(activity_query([]), timedelta(hours=1))
    message = str(raised.value)
    assert "failed without an answer: Operation returned no response" in message
    assert "answered 0" not in message and "\n" not in message
