"""``settle``: the write after a send, retried through a storage outage of any length.

GIVEN a write that fails for this long on a fake clock
WHEN  it is settled within the function's time
THEN  it succeeds once storage is back (or raises after the time), and says so in few lines
"""

from __future__ import annotations

import logging

import pytest

from shared.delivery.durable import settle
from shared.storage import StorageUnavailableError


class Outage:
    """A write that fails until ``seconds`` of fake time have passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.now = 0.0
        self.writes = 0

    def write(self) -> str:
        self.writes += 1
        if self.now < self.seconds:
            raise StorageUnavailableError("table service unreachable")
        return "recorded"

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("outage_seconds", "within", "outcome", "most_lines"),
    [
        # GIVEN storage away   WHEN settled within   THEN                  log lines at most
        (0.0, 540.0, "recorded", 0),
        (123.0, 540.0, "recorded", 6),  # issue 20: 90 s used to give up here
        (600.0, 540.0, "raised", 20),  # past the function's time: the host retries
    ],
)
def test_a_write_is_retried_until_storage_is_back(
    caplog: pytest.LogCaptureFixture,
    outage_seconds: float,
    within: float,
    outcome: str,
    most_lines: int,
) -> None:
    outage = Outage(outage_seconds)
    with caplog.at_level(logging.WARNING):
        try:
            got = settle(
                outage.write,
                "ledger write",
                within_seconds=within,
                sleep=outage.sleep,
                monotonic=lambda: outage.now,
            )
        except StorageUnavailableError:
            got = "raised"
    assert got == outcome
    assert len(caplog.records) <= most_lines
    if outcome == "recorded" and outage_seconds:
        assert outage.now - outage_seconds <= 4.0  # retried at most 4 s apart
        assert "ledger write succeeded after" in caplog.text
