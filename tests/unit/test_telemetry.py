"""shared.telemetry: JSON logs without secrets, one trace across stages, counters.

Real logging (captured from stderr and by pytest's handler), a real OpenTelemetry SDK with an
in-memory span exporter, and, for the Application Insights path, a child process whose
exporter posts to a small ingestion endpoint on 127.0.0.1. Nothing of the module is mocked.
"""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from shared import telemetry
from shared.names import SETTING_ALERTS_KEY, SETTING_APPINSIGHTS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_telemetry() -> Iterator[None]:
    telemetry._reset_for_tests()
    yield
    telemetry._reset_for_tests()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """An SDK tracer provider recording into memory, installed for one test only.

    OpenTelemetry lets a process set its global provider once; the test swaps it in and
    restores the previous one through the API module's globals so other tests are unaffected.
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = (otel_trace._TRACER_PROVIDER, otel_trace._TRACER_PROVIDER_SET_ONCE._done)
    otel_trace._TRACER_PROVIDER_SET_ONCE._done = False
    otel_trace.set_tracer_provider(provider)
    yield exporter
    provider.shutdown()
    otel_trace._TRACER_PROVIDER, otel_trace._TRACER_PROVIDER_SET_ONCE._done = saved


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# --- logs -------------------------------------------------------------------------------------


def test_without_app_insights_logs_are_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert telemetry.configure_telemetry({}) is False
    log = telemetry.get_logger("forewarn.test")
    log.info("event %s accepted", "evt-1", extra={"event_id": "evt-1", "attempt": 2})

    (entry,) = json_lines(capsys.readouterr().err)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "forewarn.test"
    assert entry["message"] == "event evt-1 accepted"
    assert entry["event_id"] == "evt-1"
    assert entry["attempt"] == 2
    assert entry["time"].endswith("+00:00")


def test_configure_is_idempotent_and_keeps_one_handler() -> None:
    assert telemetry.configure_telemetry({}) is False
    # A later call, even with App Insights settings, returns the first answer and adds nothing.
    assert telemetry.configure_telemetry({SETTING_APPINSIGHTS: "InstrumentationKey=x"}) is False
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, telemetry._StderrHandler)]
    assert len(handlers) == 1


def test_loggers_live_in_the_forewarn_namespace() -> None:
    assert telemetry.get_logger("shared.enrich").name == "forewarn.shared.enrich"
    assert telemetry.get_logger("forewarn.ingest").name == "forewarn.ingest"
    assert telemetry.get_logger("forewarn").name == "forewarn"


SECRET_CASES = [
    pytest.param(
        "POST https://func-x.azurewebsites.net/api/alerts?code=AbC123xyz==&x=1",
        "POST https://func-x.azurewebsites.net/api/alerts?code=***&x=1",
        id="function-key",
    ),
    pytest.param(
        "blob https://st.blob.core.windows.net/c/b?sv=2022&sig=abc%2Bdef&se=1",
        "blob https://st.blob.core.windows.net/c/b?sv=2022&sig=***&se=1",
        id="sas-signature",
    ),
    pytest.param(
        "Authorization: Bearer abc.def-ghi_jkl",
        "Authorization: Bearer ***",
        id="bearer",
    ),
    pytest.param(
        "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl seen",
        "token *** seen",
        id="jwt",
    ),
    pytest.param("slack xoxb-123-456-abcdef said", "slack *** said", id="slack-token"),
    pytest.param(
        "https://hooks.slack.com/services/T000/B000/XXXXXXXX failed",
        "https://hooks.slack.com/services/*** failed",
        id="slack-webhook",
    ),
    pytest.param(
        "DefaultEndpointsProtocol=https;AccountName=st;AccountKey=c2VjcmV0==;EndpointSuffix=x",
        "DefaultEndpointsProtocol=https;AccountName=st;AccountKey=***;EndpointSuffix=x",
        id="connection-string",
    ),
    pytest.param(
        '{"password": "hunter22", "user": "ops"}', '{"password": "***", "user": "ops"}', id="json"
    ),
    pytest.param("sms to +1 (555) 123-4567 sent", "sms to +*******4567 sent", id="phone"),
    pytest.param("sms to +447700900123 sent", "sms to +********0123 sent", id="phone-e164"),
]


@pytest.mark.parametrize(("raw", "expected"), SECRET_CASES)
def test_secrets_are_redacted(raw: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    telemetry.configure_telemetry({})
    telemetry.get_logger("forewarn.test").warning(raw)
    (entry,) = json_lines(capsys.readouterr().err)
    assert entry["message"] == expected


@pytest.mark.parametrize(
    "innocent",
    [
        "window 2025-01-30T00:00:00+00:00 to 2025-02-03T16:30:00-07:00",
        "subscription 6f2ad5a7-1b3c-4e5f-9a8b-0c1d2e3f4a5b, 3 VMs, 1500 calls/min",
        "maintenance key facts: self-service window open",
    ],
)
def test_ordinary_text_is_left_alone(innocent: str) -> None:
    assert telemetry.redact(innocent) == innocent


def test_values_of_secret_settings_are_redacted_wherever_they_appear(
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = "local-key-8f3a9c"
    telemetry.configure_telemetry({SETTING_ALERTS_KEY: key, "FOREWARN_CONFIG": "f.yaml"})
    telemetry.get_logger("forewarn.test").info("client sent %s in a header", key)
    (entry,) = json_lines(capsys.readouterr().err)
    assert entry["message"] == "client sent *** in a header"


def test_every_handler_sees_the_redacted_record(caplog: pytest.LogCaptureFixture) -> None:
    """pytest's handler stands for any other handler (the Functions worker's, OpenTelemetry's)."""
    telemetry.configure_telemetry({})
    with caplog.at_level(logging.INFO, logger="forewarn"):
        telemetry.get_logger("forewarn.test").info("url %s", "https://x/api/alerts?code=s3cret")
    assert caplog.records[-1].getMessage() == "url https://x/api/alerts?code=***"


def test_other_libraries_logs_are_redacted_by_the_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    telemetry.configure_telemetry({})
    logging.getLogger("urllib3.connectionpool").warning("GET /api/alerts?code=abc123 failed")
    (entry,) = json_lines(capsys.readouterr().err)
    assert entry["message"] == "GET /api/alerts?code=*** failed"


def test_exception_text_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    telemetry.configure_telemetry({})
    try:
        raise RuntimeError("upstream said Authorization: Bearer sk-live-123")
    except RuntimeError:
        telemetry.get_logger("forewarn.test").exception("delivery failed")
    (entry,) = json_lines(capsys.readouterr().err)
    assert "sk-live-123" not in entry["exception"]
    assert "Bearer ***" in entry["exception"]


FORGED_STAGE = "enrich\n2025-01-01 00:00:00 forewarn.ingest event evt-9 accepted\r\u2028\x1b[2J"


def test_a_newline_in_a_value_cannot_forge_a_line_in_the_text_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    telemetry.configure_telemetry({}, log_format="text")
    telemetry.get_logger("forewarn.test").warning("stage %s failed", FORGED_STAGE)
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert "stage enrich\\n2025-01-01" in err
    assert "\\r\\u2028\\x1b[2J failed" in err


def test_control_characters_are_escaped_in_json_message_and_extras(
    capsys: pytest.CaptureFixture[str],
) -> None:
    telemetry.configure_telemetry({})
    telemetry.get_logger("forewarn.test").warning(
        "stage %s failed", FORGED_STAGE, extra={"stage": FORGED_STAGE, "attempt": 1}
    )
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    (entry,) = json_lines(err)
    for value in (entry["message"], entry["stage"]):
        assert not any(char in value for char in "\n\r\x1b\u2028"), value
        assert "enrich\\n2025-01-01" in value
    assert entry["attempt"] == 1


def test_records_that_bypass_the_filter_are_still_escaped() -> None:
    """A handler someone adds without the filter still gets one line per record."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a\nb %s", ("c\rd",), None)
    record.stage = "e\nf"
    text = telemetry.TextFormatter().format(record)
    entry = json.loads(telemetry.JsonFormatter().format(record))
    assert "\n" not in text and text.endswith("a\\nb c\\rd")
    assert entry["message"] == "a\\nb c\\rd" and entry["stage"] == "e\\nf"


def test_text_then_json_configuration_prints_each_line_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`forewarn serve` configures text logs, then importing function_app configures again."""
    telemetry.configure_telemetry({}, log_format="text")
    telemetry.configure_telemetry({})
    telemetry.get_logger("forewarn.test").info("only once")
    assert capsys.readouterr().err.count("only once") == 1


# --- spans ------------------------------------------------------------------------------------


def test_without_tracing_the_incoming_traceparent_passes_through() -> None:
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with telemetry.stage_span("enrich", event_id="evt-1", traceparent=incoming) as outgoing:
        assert outgoing == incoming
    with telemetry.stage_span("ingest", event_id="evt-1") as outgoing:
        assert outgoing is None


def test_one_trace_from_ingest_through_enrich_to_each_delivery(
    spans: InMemorySpanExporter,
) -> None:
    with telemetry.stage_span("ingest", event_id="evt-1", kind="servicehealth") as ingest_tp:
        pass
    assert ingest_tp is not None
    with telemetry.stage_span("enrich", event_id="evt-1", traceparent=ingest_tp) as enrich_tp:
        pass
    assert enrich_tp is not None
    for channel in ("slack", "sms"):
        with telemetry.stage_span(
            "deliver", event_id="evt-1", traceparent=enrich_tp, channel=channel, attempt=1
        ):
            pass

    by_name: dict[str, list[ReadableSpan]] = {}
    for span in spans.get_finished_spans():
        by_name.setdefault(span.name, []).append(span)
    (ingest,) = by_name["forewarn.ingest"]
    (enrich,) = by_name["forewarn.enrich"]
    deliveries = by_name["forewarn.deliver"]
    assert len(deliveries) == 2

    trace_ids = {s.context.trace_id for s in [ingest, enrich, *deliveries]}
    assert len(trace_ids) == 1
    assert ingest.parent is None
    assert enrich.parent is not None
    assert enrich.parent.span_id == ingest.context.span_id
    assert all(
        d.parent is not None and d.parent.span_id == enrich.context.span_id for d in deliveries
    )
    # The yielded traceparent names the span that was current, so the next stage hangs off it.
    assert ingest_tp.split("-")[2] == format(ingest.context.span_id, "016x")

    assert ingest.attributes is not None
    assert ingest.attributes["forewarn.event_id"] == "evt-1"
    assert ingest.attributes["forewarn.kind"] == "servicehealth"
    assert {d.attributes["forewarn.channel"] for d in deliveries if d.attributes} == {
        "slack",
        "sms",
    }


def test_a_failing_stage_is_recorded_and_the_error_propagates(
    spans: InMemorySpanExporter,
) -> None:
    with pytest.raises(ValueError, match="bad payload"), telemetry.stage_span("ingest"):
        raise ValueError("bad payload")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in span.events)


def test_logs_inside_a_span_carry_its_ids(
    spans: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    telemetry.configure_telemetry({})
    with telemetry.stage_span("route", event_id="evt-1"):
        telemetry.get_logger("forewarn.route").info("routed")
    (entry,) = json_lines(capsys.readouterr().err)
    (span,) = spans.get_finished_spans()
    assert entry["trace_id"] == format(span.context.trace_id, "032x")
    assert entry["span_id"] == format(span.context.span_id, "016x")


# --- counters ---------------------------------------------------------------------------------


def test_counts_are_kept_per_attribute_set() -> None:
    telemetry.count(telemetry.METRIC_DELIVERIES, channel="sms", outcome="sent")
    telemetry.count(telemetry.METRIC_DELIVERIES, 2, outcome="sent", channel="sms")
    telemetry.count(telemetry.METRIC_DELIVERIES, channel="sms", outcome="failed")
    assert telemetry.counted(telemetry.METRIC_DELIVERIES, channel="sms", outcome="sent") == 3
    assert telemetry.counted(telemetry.METRIC_DELIVERIES, channel="sms", outcome="failed") == 1
    assert telemetry.counted(telemetry.METRIC_RETRIES) == 0


def test_an_unknown_metric_is_counted_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="forewarn"):
        telemetry.count("forewarn.deliverys")
    assert telemetry.counted("forewarn.deliverys") == 1
    assert "unknown metric forewarn.deliverys" in caplog.text


# --- Application Insights, end to end in a child process --------------------------------------


class _Ingestion(BaseHTTPRequestHandler):
    """Accepts Application Insights track calls and keeps every envelope."""

    envelopes: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.envelopes.extend(json.loads(body))
        reply = json.dumps({"itemsReceived": 1, "itemsAccepted": 1, "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the envelopes, not an access log."""


CHILD = """
import json
from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider
from shared import telemetry

enabled = telemetry.configure_telemetry({{"APPLICATIONINSIGHTS_CONNECTION_STRING": {cs!r}}})
with telemetry.stage_span("ingest", event_id="evt-42") as first:
    telemetry.get_logger("forewarn.ingest").warning("accepted via ?code=s3cret-key")
with telemetry.stage_span("enrich", event_id="evt-42", traceparent=first) as second:
    pass
telemetry.count("forewarn.events", outcome="accepted")
trace.get_tracer_provider().force_flush()
metrics.get_meter_provider().force_flush()
get_logger_provider().force_flush()
print(json.dumps({{"enabled": enabled, "first": first, "second": second}}))
"""


def test_with_app_insights_everything_reaches_the_ingestion_endpoint(tmp_path: Path) -> None:
    _Ingestion.envelopes = []
    server = HTTPServer(("127.0.0.1", 0), _Ingestion)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        connection_string = (
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
            f"IngestionEndpoint=http://{host!s}:{port}"
        )
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(CHILD.format(cs=connection_string))],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)},
        )
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr[-2000:]
    reported = json.loads(result.stdout.strip().splitlines()[-1])
    assert reported["enabled"] is True
    assert reported["first"].split("-")[1] == reported["second"].split("-")[1]  # one trace
    assert int(reported["first"].split("-")[3], 16) & 1  # sampled: every trace is kept

    kinds: dict[str, list[dict[str, Any]]] = {}
    for envelope in _Ingestion.envelopes:
        kinds.setdefault(envelope["name"].rsplit(".", 1)[-1], []).append(envelope)
    messages = [e["data"]["baseData"]["message"] for e in kinds.get("Message", [])]
    assert "accepted via ?code=***" in messages
    assert not any("s3cret" in json.dumps(e) for e in _Ingestion.envelopes)
    metric_names = {
        m["name"] for e in kinds.get("Metric", []) for m in e["data"]["baseData"]["metrics"]
    }
    assert "forewarn.events" in metric_names
    span_envelopes = kinds.get("RemoteDependency", []) + kinds.get("Request", [])
    names = {e["data"]["baseData"]["name"] for e in span_envelopes}
    assert {"forewarn.ingest", "forewarn.enrich"} <= names, sorted(kinds)
    operation_ids = {e["tags"]["ai.operation.id"] for e in span_envelopes}
    assert operation_ids == {reported["first"].split("-")[1]}


def test_short_text_logs_put_an_exception_on_the_same_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    telemetry.configure_telemetry({}, log_format=telemetry.TextFormatter(tracebacks=False))
    try:
        raise ConnectionError("ARM at 127.0.0.1:9 refused\nthe connection")
    except ConnectionError:
        telemetry.get_logger("forewarn.test").warning("enrich failed", exc_info=True)
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(
        "enrich failed (ConnectionError: ARM at 127.0.0.1:9 refused\\nthe connection)"
    )
