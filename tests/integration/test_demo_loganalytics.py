"""`forewarn demo` (what `make demo` runs) shows a quietest-hour hint and a recovered notice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_demo_shows_quietest_hours_and_a_recovered_notice(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "demo", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    hints = [line for line in out.splitlines() if "quietest: " in line and "% CPU" in line]
    assert any(line.strip().startswith("- sql-01") for line in hints), out[-3000:]
    assert "received: " in out  # the notice the webhook brought, found again
    assert "missing, queued marked recovered: " in out
    assert "recovered notice delivered to every channel" in out
    # Issue 22: Alice starts step 1 of the plan (sql-01) from its signed link in the first
    # email: the stand-in ARM is asked to perform sql-01's maintenance (and no other VM's),
    # and the outcome notice that every receiver gets names sql-01.
    assert "GET step 1 -> 200" in out and "Start maintenance of sql-01 now (step 1" in out
    assert "POST step 1 (Confirm) -> 200" in out, out[-3000:]
    assert "the stand-in ARM: performMaintenance for sql-01\n" in out, out[-3000:]
    assert "sql-01: maintenance completed; last result MaintenanceCompleted" in out
    # Its heading says what happened: completed, as the outcome says (not "started").
    assert "Maintenance completed: sql-01: by alice@example.com" in out
    # Issue 16: the notice says what remains, never "over"; the sweep after it says nothing
    # twice.
    assert "Still to do: start sql-02 by " in out, out[-3000:]
    assert "this maintenance is over" not in out
    assert "sweep: 0 notice(s)\n" in out
    # Issue 21: Alice claims sql-02 with the Slack button; the message says so in place, and
    # the reminder then reaches her receiver (Slack) only.
    assert "the message now says: sql-02: claimed by Alice" in out, out[-3000:]
    assert "reminder sql-02 due " in out and " to slack-demo\n" in out
    assert "reminded in Slack only; the other channels got nothing" in out
    assert "Start 1 VM yourself by " in out
    # Issue 21: the email carries the VMs' windows as a calendar file.
    assert "Attached calendar: forewarn-maintenance.ics (PUBLISH, " in out, out[-3000:]
    preview = (tmp_path / "out" / "preview.html").read_text(encoding="utf-8")
    assert "Start now on step 1" in preview and "reminder" in preview
    assert preview.count("Maintenance completed: sql-01: by alice@example.com") >= 4
    # Issue 24: sql-02's forwarder sees a Reboot 15 minutes ahead, then the VM back.
    assert "Reboot of sql-02 at " in out and "sql-02 rebooted, back at " in out, out[-3000:]
    assert "Scheduled Event" in preview
    # Issue 21: the board of the wave, as text and as the page the app serves.
    assert "sql-02 (rg-shop-prod)  to do · start it yourself · start by " in out, out[-3000:]
    board = (tmp_path / "out" / "board.html").read_text(encoding="utf-8")
    assert board.count('<tr id="vm-') == 5 and '<line class="now"' in board
    # Issue 22, the short second look: the used link is refused, and so is step 2 before
    # Azure's 30 minutes between steps have passed; nothing more reached ARM.
    assert "GET step 1 again -> 410" in out and "This link was already used" in out
    assert "GET step 2 -> 409" in out and "minutes between steps" in out, out[-3000:]
    assert "Maintenance started: sql-02" not in out
    assert "Maintenance completed: sql-02" not in out
    assert "over the whole demo: performMaintenance for sql-01\n" in out
