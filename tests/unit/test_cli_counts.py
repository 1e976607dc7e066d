"""Counts a person reads in a command's summary agree with their number ("1 subscription",
not "1 subscriptions"), as the messages' own counts do.

GIVEN a sweep pass's report with one or several of each
THEN  the summary line on stderr says each count with the word in the right number
"""

from __future__ import annotations

import pytest

from shared.cli.catchup_command import _print as catch_up_print
from shared.cli.remind_command import _print as remind_print
from shared.cli.sweep_command import _print
from shared.loganalytics.catchup import CatchUpReport
from shared.wave.report import PassReport

CASES = [
    # GIVEN subscriptions, VMs, events, ARM requests   THEN the summary
    (
        (["s1"], 1, 1, 1),
        "1 subscription, 1 VM with maintenance, 0 notices would send in 1 event, 1 ARM request",
    ),
    (
        (["s1", "s2"], 5, 0, 2),
        "2 subscriptions, 5 VMs with maintenance, 0 notices would send in 0 events, 2 ARM requests",
    ),
]


@pytest.mark.parametrize(("given", "summary"), CASES, ids=["one", "several"])
def test_the_sweep_summary_counts_agree_with_their_number(
    capsys: pytest.CaptureFixture[str], given: tuple[list[str], int, int, int], summary: str
) -> None:
    subscriptions, vms, events, requests = given
    report = PassReport(
        subscriptions, events=events, arm_requests=requests, vms_seen=vms, dry_run=True
    )
    _print(report, as_json=False)
    assert capsys.readouterr().err.splitlines() == [summary]


def test_the_reminders_summary_counts_agree_with_their_number(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a reminders pass that read one VM again with one ARM request and sent nothing
    report = PassReport(["s1"], events=0, arm_requests=1, vms_seen=1, dry_run=True)
    remind_print(report, as_json=False)
    # THEN each count is in the right number
    assert capsys.readouterr().err.splitlines() == [
        "1 VM read again, 0 notices would send in 0 events, 1 ARM request"
    ]


def test_a_catch_up_whose_query_failed_does_not_say_it_found_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a pass whose Log Analytics query failed (nothing was read)
    report = CatchUpReport("2030-03-01T00:00:00Z", "2030-03-01T01:00:00Z", dry_run=True, read=False)
    report.notes.append("query failed, the next pass retries: Log Analytics unreachable")
    catch_up_print(report)
    # THEN the summary says nothing was read, not "0 found", and the note says why
    assert capsys.readouterr().out.splitlines() == [
        "catch-up 2030-03-01T00:00:00Z .. 2030-03-01T01:00:00Z (dry run): not read, the query "
        "failed; checkpoint kept",
        "note: query failed, the next pass retries: Log Analytics unreachable",
    ]
