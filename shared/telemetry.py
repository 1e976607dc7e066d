"""Telemetry for every stage: structured logs without secrets, one trace per event, counters.

Why it looks like this:

- **One trace per event.** Ingest, enrich, route and each delivery run in different function
  invocations, joined only by queue messages. :func:`stage_span` starts a span as the child of
  the W3C ``traceparent`` the previous stage put on the message and yields the new span's
  ``traceparent`` for the next message, so Application Insights shows ingest -> enrich -> every
  delivery as one end-to-end transaction.
- **Cheap when off.** Without ``APPLICATIONINSIGHTS_CONNECTION_STRING`` nothing from Azure
  Monitor is imported (it costs cold-start time); spans pass the incoming ``traceparent``
  through unchanged and counters are kept in memory and logged at debug level.
- **Secrets never reach a log.** A filter rewrites every record, whichever handler (ours, the
  Functions worker's, OpenTelemetry's) receives it: values of settings whose names say they are
  secret, ``code=``/``sig=``-style query parameters, bearer tokens and JWTs, Slack tokens and
  webhook paths, and phone numbers beyond their last four digits.
- **One record, one line.** Alert text reaches log messages and extras (a ``stage``, a title);
  a newline in it would forge a line in a text log. Control characters and Unicode line
  separators are written as escapes (``\\n``, ``\\x1b``, ``\\u2028``) in every format.

The module never imports ``azure.functions``; adapters pass what they read from the trigger
(for example ``context.trace_context.trace_parent``) as plain strings.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from shared.names import SETTING_APPINSIGHTS
from shared.redaction import clean, escape_controls, learn_secrets, redact

try:  # The API is small and light; the SDK and Azure Monitor are imported only when enabled.
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace as otel_trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # pragma: no cover - the app always ships opentelemetry-api
    otel_metrics = None  # type: ignore[assignment]
    otel_trace = None  # type: ignore[assignment]
    TraceContextTextMapPropagator = None  # type: ignore[assignment,misc]

__all__ = [
    "KNOWN_METRICS",
    "LOGGER_NAMESPACE",
    "METRIC_DEADLETTERS",
    "METRIC_DELIVERIES",
    "METRIC_ENRICHMENT_NOTES",
    "METRIC_EVENTS",
    "METRIC_RETRIES",
    "JsonFormatter",
    "RedactingFilter",
    "TextFormatter",
    "configure_telemetry",
    "count",
    "counted",
    "escape_controls",
    "get_logger",
    "redact",
    "stage_span",
]

INSTRUMENTATION_NAME: Final = "forewarn"
LOGGER_NAMESPACE: Final = "forewarn"

METRIC_EVENTS: Final = "forewarn.events"
METRIC_DELIVERIES: Final = "forewarn.deliveries"  # attributes: channel, outcome
METRIC_RETRIES: Final = "forewarn.retries"
METRIC_DEADLETTERS: Final = "forewarn.deadletters"
METRIC_ENRICHMENT_NOTES: Final = "forewarn.enrichment_notes"
KNOWN_METRICS: Final = frozenset(
    {METRIC_EVENTS, METRIC_DELIVERIES, METRIC_RETRIES, METRIC_DEADLETTERS, METRIC_ENRICHMENT_NOTES}
)

# Attributes every LogRecord has; anything else came in through ``extra=``.
_RECORD_ATTRIBUTES: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class RedactingFilter(logging.Filter):
    """Rewrites a record in place so that no handler after it sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_forewarn_redacted", False):
            return True
        record.msg = clean(record.getMessage())
        record.args = None
        for name, value in list(vars(record).items()):
            if name not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, clean(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        record._forewarn_redacted = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace ids and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": clean(record.getMessage()),
        }
        span_context = _current_span_context()
        if span_context is not None:
            entry["trace_id"], entry["span_id"] = span_context
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
                entry[name] = clean(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger message``, one line per record, for people reading a terminal.

    With ``tracebacks`` a traceback follows on its own lines, as Python prints it; without, the
    exception is one clause at the end of the line (`forewarn serve`: one line per problem).
    """

    def __init__(self, *, tracebacks: bool = True) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._tracebacks = tracebacks

    def formatMessage(self, record: logging.LogRecord) -> str:
        return self._style.format(_EscapedRecord(record))

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))

    def format(self, record: logging.LogRecord) -> str:
        if self._tracebacks or not (record.exc_info or record.exc_text):
            return super().format(record)
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            return f"{line} ({type(error).__name__}: {clean(str(error))})"
        return line


class _EscapedRecord:
    """A view of a record whose ``message`` is redacted and on one line (the record is shared
    with other handlers, so it is not changed here)."""

    def __init__(self, record: logging.LogRecord) -> None:
        self.__dict__.update(vars(record))
        self.message = clean(record.getMessage())


LOG_FORMATS: Final = {"json": JsonFormatter, "text": TextFormatter}


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is now (test capture and the dev host swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """The stream is always the current ``sys.stderr``; assignments are ignored."""


# --- state ------------------------------------------------------------------------------------

_lock = threading.Lock()
_state: dict[str, bool] = {}  # "configured", "app_insights"
_filter = RedactingFilter()
_counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
_instruments: dict[str, Any] = {}


def _inside_functions_worker() -> bool:
    """The Functions Python worker already ships logs to the host: don't print them twice."""
    return any(name in sys.modules for name in ("azure_functions_worker", "proxy_worker"))


def configure_telemetry(
    environ: Mapping[str, str] | None = None, *, log_format: str | logging.Formatter = "json"
) -> bool:
    """Set up logging (and Azure Monitor when configured) once per process.

    Returns True when telemetry goes to Application Insights. Safe to call from every function
    module at import time: later calls return the first call's answer, and keep the first
    call's ``log_format`` (``json``, ``text`` for a terminal, or a formatter).
    """
    formatter = LOG_FORMATS[log_format]() if isinstance(log_format, str) else log_format
    env = os.environ if environ is None else environ
    with _lock:
        if _state.get("configured"):
            return _state["app_insights"]
        learn_secrets(env)
        root = logging.getLogger()
        if not _inside_functions_worker() and not any(
            isinstance(h, _StderrHandler) for h in root.handlers
        ):
            handler = _StderrHandler()
            handler.setFormatter(formatter)
            root.addHandler(handler)
            if root.level == logging.WARNING:  # untouched default: let INFO through
                root.setLevel(logging.INFO)
        # The Azure SDK logs every HTTP request and response at INFO (a queue poll each
        # second); that is the SDK's story, not forewarn's, wherever the logs go.
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(
            logging.WARNING
        )
        connection_string = env.get(SETTING_APPINSIGHTS, "").strip()
        app_insights = bool(connection_string)
        if app_insights:
            _configure_azure_monitor(connection_string)
        # Every handler present now, ours, the worker's and OpenTelemetry's (on the forewarn
        # logger), redacts: a handler's filter sees records of every child logger, including
        # ones created with plain logging.getLogger("forewarn.…").
        for existing in [*root.handlers, *logging.getLogger(LOGGER_NAMESPACE).handlers]:
            if _filter not in existing.filters:
                existing.addFilter(_filter)
        _state.update(configured=True, app_insights=app_insights)
        return app_insights


def _configure_azure_monitor(connection_string: str) -> None:
    # Imported here: it pulls in the OpenTelemetry SDK and exporters, slow on a cold start.
    from azure.monitor.opentelemetry import configure_azure_monitor

    # The Azure VM detector would probe the instance metadata endpoint; forewarn never runs
    # on a VM, and the App Service detector covers Flex Consumption.
    os.environ.setdefault("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "azure_app_service")
    # Each export logs its HTTP request at INFO; that is noise, not forewarn's story.
    for chatty in ("azure.core.pipeline.policies.http_logging_policy", "azure.monitor"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    configure_azure_monitor(
        connection_string=connection_string,
        enable_live_metrics=False,
        # Keep every trace: forewarn sees a handful of events a day, and the default
        # rate-limited sampler drops the spans of a cold start, which is most invocations.
        sampling_ratio=1.0,
        # Only forewarn's own records become App Insights traces. Exporting the root logger
        # would also export the exporter's HTTP logging, which logs each export: a loop.
        logger_name=LOGGER_NAMESPACE,
    )


def _reset_for_tests() -> None:
    """Forget the configuration and the in-memory counts (tests only)."""
    with _lock:
        _state.clear()
        _counts.clear()
        _instruments.clear()
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, _StderrHandler):
                root.removeHandler(handler)
            elif _filter in handler.filters:
                handler.removeFilter(_filter)


def get_logger(name: str) -> logging.Logger:
    """A standard logger under ``forewarn.``, whose records are redacted before any handler.

    Names outside the namespace are moved into it (``shared.enrich`` becomes
    ``forewarn.shared.enrich``): only that namespace is exported to Application Insights.
    """
    if name != LOGGER_NAMESPACE and not name.startswith(LOGGER_NAMESPACE + "."):
        name = f"{LOGGER_NAMESPACE}.{name}"
    logger = logging.getLogger(name)
    if _filter not in logger.filters:
        logger.addFilter(_filter)
    return logger


_log = get_logger(__name__)

# --- tracing ----------------------------------------------------------------------------------


def _current_span_context() -> tuple[str, str] | None:
    if otel_trace is None:
        return None
    context = otel_trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


@contextmanager
def stage_span(
    stage: str,
    *,
    event_id: str | None = None,
    traceparent: str | None = None,
    **attributes: str | int,
) -> Iterator[str | None]:
    """Run one pipeline stage inside a span that continues the event's trace.

    ``traceparent`` is what the previous stage put on the queue message (or the trigger's own
    trace context). Yields the ``traceparent`` to put on the next message: the new span's when
    tracing is on, else the incoming one unchanged (None when there was none).
    """
    if otel_trace is None or TraceContextTextMapPropagator is None:
        yield traceparent
        return
    propagator = TraceContextTextMapPropagator()
    parent = propagator.extract({"traceparent": traceparent}) if traceparent else None
    span_attributes: dict[str, str | int] = {"forewarn.stage": stage}
    if event_id is not None:
        span_attributes["forewarn.event_id"] = event_id
    span_attributes.update({f"forewarn.{key}": value for key, value in attributes.items()})
    tracer = otel_trace.get_tracer(INSTRUMENTATION_NAME)
    with tracer.start_as_current_span(
        f"forewarn.{stage}", context=parent, attributes=span_attributes
    ) as span:
        if not span.get_span_context().is_valid:  # no SDK installed: tracing is off
            yield traceparent
            return
        carrier: dict[str, str] = {}
        propagator.inject(carrier)
        yield carrier.get("traceparent", traceparent)


# --- counters ---------------------------------------------------------------------------------


def count(metric: str, amount: int = 1, **attributes: str) -> None:
    """Add ``amount`` to a counter: ``count(METRIC_DELIVERIES, channel="sms", outcome="sent")``.

    Goes to Azure Monitor when it is configured; always kept in memory (see :func:`counted`).
    """
    if metric not in KNOWN_METRICS:
        # A typo would silently start a new series; say so, but never fail the caller.
        _log.warning("unknown metric %s (known: %s)", metric, ", ".join(sorted(KNOWN_METRICS)))
    key = (metric, tuple(sorted(attributes.items())))
    with _lock:
        _counts[key] += amount
        counter = _instruments.get(metric)
        if counter is None and otel_metrics is not None:
            counter = otel_metrics.get_meter(INSTRUMENTATION_NAME).create_counter(metric)
            _instruments[metric] = counter
    if counter is not None:
        counter.add(amount, attributes)
    _log.debug("count %s +%d %s", metric, amount, attributes)


def counted(metric: str, **attributes: str) -> int:
    """This process's running total of a counter for exactly these attributes."""
    with _lock:
        return _counts[(metric, tuple(sorted(attributes.items())))]
