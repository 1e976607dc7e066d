"""Placeholder until the telemetry module lands (same API): logging only."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


def configure_telemetry(environ: Mapping[str, str] | None = None) -> bool:
    return False


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


@contextmanager
def stage_span(
    stage: str,
    *,
    event_id: str | None = None,
    traceparent: str | None = None,
    **attributes: str | int,
) -> Iterator[str | None]:
    yield traceparent


def count(metric: str, amount: int = 1, **attributes: str) -> None:
    logging.getLogger("forewarn.metrics").debug("%s +%d %s", metric, amount, attributes)
