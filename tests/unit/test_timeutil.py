"""format_utc writes ISO 8601 in UTC with four-digit years, whatever the year and offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.timeutil import format_utc


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # GIVEN a moment                                                THEN it is written as
        (datetime(2026, 12, 4, 13, 5, 7, 999_999, tzinfo=UTC), "2026-12-04T13:05:07Z"),
        (
            datetime(2026, 12, 4, 14, 5, 7, tzinfo=timezone(timedelta(hours=1))),
            "2026-12-04T13:05:07Z",
        ),
        (datetime(2026, 12, 4, 13, 5, 7), "2026-12-04T13:05:07Z"),  # naive means UTC
        (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02T03:04:05Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "9999-12-31T23:59:59Z"),
    ],
)
def test_format_utc(moment: datetime, expected: str) -> None:
    assert format_utc(moment) == expected


def test_what_format_utc_writes_reads_back_as_the_same_instant() -> None:
    moment = datetime(999, 6, 7, 8, 9, 10, tzinfo=timezone(timedelta(hours=-5)))
    assert datetime.fromisoformat(format_utc(moment)) == moment
