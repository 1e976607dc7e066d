"""A refused ARM connection is retried for half a minute; each retry says so, naming the host
and the attempt, instead of the enrich stage going silent."""

from __future__ import annotations

import logging

import pytest

from shared.enrich.arm import ArmClient
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.errors import ArmUnavailableError
from shared.enrich.pacing import Operation
from shared.standins.stand_in import closed_port

pytestmark = pytest.mark.integration


def test_each_retry_of_a_refused_connection_is_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = closed_port()
    waits: list[float] = []
    client = ArmClient(
        f"http://127.0.0.1:{port}",
        StaticTokenProvider("t"),
        max_attempts=3,
        sleep=waits.append,  # the backoff is recorded, not slept
    )
    with (
        caplog.at_level(logging.WARNING, logger="shared.enrich.arm"),
        pytest.raises(ArmUnavailableError),
    ):
        client.get(
            "/subscriptions/sub-a/providers/Microsoft.Compute/virtualMachines", Operation.VM_LIST
        )
    lines = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(lines) == 3, lines
    for attempt, line in enumerate(lines, start=1):
        assert f"127.0.0.1:{port}" in line
        assert f"attempt {attempt} of 3" in line
    assert "ConnectionError" in lines[0]
