"""The catch-up timer as the app registers it: hourly, and a no-op without a workspace."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from functions import catchup
from shared import names
from shared.devhost.catalog import functions_of
from shared.devhost.cron import CronSchedule


@pytest.fixture
def no_workspace(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Neither a workspace nor Resource Graph (which stands in for a workspace when on)."""
    monkeypatch.delenv(names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, raising=False)
    monkeypatch.setenv(names.SETTING_RESOURCE_GRAPH, "off")
    catchup._catch_up.cache_clear()
    yield
    catchup._catch_up.cache_clear()


def test_the_app_registers_an_hourly_catch_up_timer() -> None:
    import function_app

    function = functions_of(function_app.app)[names.FUNCTION_CATCHUP]
    trigger = function.get_bindings()[0]
    assert trigger.type == "timerTrigger"
    schedule = CronSchedule.parse(trigger.schedule)
    first = schedule.next_after(datetime(2026, 12, 4, 12, 0, tzinfo=UTC))
    second = schedule.next_after(first)
    assert (second - first).total_seconds() == 3600


def test_without_a_workspace_or_resource_graph_the_timer_does_nothing(
    no_workspace: None,
) -> None:
    # No storage setting either: building anything would fail, so nothing may be built.
    catchup.catch_up(None)  # type: ignore[arg-type]
    assert catchup._catch_up() is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no workspace and Resource Graph off: set FOREWARN_LOG_ANALYTICS_WORKSPACE_ID"),
        (["--since", "last tuesday"], "not an ISO 8601 time"),
    ],
)
def test_the_command_says_what_is_missing(
    args: list[str], message: str, no_workspace: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.cli import main

    try:
        code = main(["catch-up", *args])
    except SystemExit as exit_:  # argparse rejects a bad --since itself
        code = int(exit_.code or 0)
    assert code == 2
    assert message in capsys.readouterr().err


def test_without_a_workspace_resource_graph_stands_in(
    no_workspace: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN no workspace and Resource Graph on WHEN the timer's pass is built THEN it reads
    Resource Graph (nothing is sent until it runs)."""
    monkeypatch.setenv(names.SETTING_RESOURCE_GRAPH, "on")
    monkeypatch.setenv(names.STORAGE_CONNECTION, "UseDevelopmentStorage=true")
    runner = catchup._catch_up()
    assert runner is not None and runner._graph is not None and runner._reader is None
