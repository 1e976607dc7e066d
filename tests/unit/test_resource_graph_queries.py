"""Resource Graph's fixed query texts, its quota headers and the pacer's quota window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.enrich import graph_queries
from shared.enrich.graph_queries import TEMPLATES, GraphQuery, read_graph_query
from shared.enrich.pacing import Operation, Pacer, QuotaWindow
from shared.timeutil import duration_hms_seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("00:00:03", 3.0),
        ("00:01:00", 60.0),
        ("01:00:05", 3605.0),
        ("00:00:00", 0.0),
        ("00:00:02.5", 3.0),  # rounded up: waiting less than the reset draws a 429
        ("00:00:02.000", 2.0),
        ("3", None),
        ("00:60:00", None),
        ("", None),
        (None, None),
        ("-00:00:01", None),
    ],
)
def test_quota_resets_after(header: str | None, seconds: float | None) -> None:
    assert duration_hms_seconds(header) == seconds


def test_only_the_moment_varies_in_a_query_text() -> None:
    """GIVEN two moments WHEN the Service Health query is written for each THEN the texts
    differ only inside the datetime literal, and read back to the same query."""
    early = datetime(2030, 1, 1, tzinfo=UTC)
    late = early + timedelta(days=3, seconds=7)
    first = graph_queries.service_health_events(early).text()
    second = graph_queries.service_health_events(late).text()
    assert first.replace("2030-01-01T00:00:00Z", "X") == second.replace("2030-01-04T00:00:07Z", "X")
    assert read_graph_query(second) == GraphQuery("service-health-events", {"since": late})
    for name in TEMPLATES:
        if "{" not in TEMPLATES[name]:
            assert GraphQuery(name).text() == TEMPLATES[name]


@pytest.mark.parametrize(
    "text",
    [
        "resources | project name",
        graph_queries.maintenance_vms().text() + "\n| take 1",
        graph_queries.service_health_events(datetime(2030, 1, 1, tzinfo=UTC))
        .text()
        .replace("2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z') | union (x"),
    ],
)
def test_any_other_text_is_not_a_forewarn_query(text: str) -> None:
    with pytest.raises(ValueError, match="not one of"):
        read_graph_query(text)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_quota_window_waits_for_the_reset_only_when_none_is_left() -> None:
    """GIVEN an answer saying 2 left, resetting after 3 s WHEN four queries go THEN two go at
    once, the third waits the 3 s, and after the reset nothing is known until told again."""
    clock = FakeClock()
    pacer = Pacer(monotonic=clock, sleep=clock.sleep)
    pacer.acquire("-", Operation.GRAPH_QUERY, None)
    pacer.observe_quota(2, 3.0)
    sent = []
    for _ in range(3):
        pacer.acquire("-", Operation.GRAPH_QUERY, None)
        sent.append(clock.now)
    assert sent == [100.0, 100.0, 103.0]
    assert pacer.quota.remaining is None  # a new window: its size comes with the next answer


def test_a_429_empties_the_window_until_retry_after() -> None:
    clock = FakeClock()
    pacer = Pacer(monotonic=clock, sleep=clock.sleep)
    pacer.hold("-", 4.0)
    pacer.acquire("-", Operation.GRAPH_QUERY, None)
    assert clock.now == 104.0


def test_unknown_quota_never_waits() -> None:
    window = QuotaWindow()
    assert window.wait_time(0.0) == 0.0
    window.take(0.0)
    assert window.wait_time(0.0) == 0.0
