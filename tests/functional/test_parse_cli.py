"""`forewarn parse FILE|-`: exit 0 accepted, 1 valid but not for forewarn, 2 invalid."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def parse(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "parse", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("fixture", "code", "stderr_has"),
    [
        ("forewarn/common-servicehealth-maintenance-planned.json", 0, ""),
        ("azure/legacy-activitylog-servicehealth-incident.json", 0, ""),
        ("azure/legacy-activitylog-administrative.json", 1, "not for forewarn"),
        ("azure/arm-vm-instanceview-example-2024-07-01.json", 2, "/schemaId: "),
    ],
    ids=["maintenance", "legacy incident", "action group write", "not an alert"],
)
def test_exit_codes(fixture: str, code: int, stderr_has: str) -> None:
    result = parse(str(FIXTURES / fixture))
    assert result.returncode == code, result.stderr
    assert stderr_has in result.stderr
    if code == 0:
        event = json.loads(result.stdout)
        assert len(event["event_id"]) == 32
    else:
        assert result.stdout == ""


def test_reads_stdin_and_reports_every_problem_as_a_pointer() -> None:
    payload = json.loads(
        (FIXTURES / "forewarn/common-servicehealth-maintenance-planned.json").read_text()
    )
    properties = payload["data"]["alertContext"]["properties"]
    properties["impactStartTime"] = "later"
    properties["impactMitigationTime"] = "much later"
    result = parse("-", stdin=json.dumps(payload))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert sorted(lines) == [
        "/data/alertContext/properties/impactMitigationTime: is not an ISO 8601 timestamp: "
        "'much later'",
        "/data/alertContext/properties/impactStartTime: is not an ISO 8601 timestamp: 'later'",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [("{broken", "not valid JSON"), ("", "not valid JSON")],
    ids=["broken", "empty"],
)
def test_broken_json_is_exit_2(text: str, message: str) -> None:
    result = parse("-", stdin=text)
    assert result.returncode == 2
    assert message in result.stderr


def test_missing_file_is_exit_2() -> None:
    result = parse(str(FIXTURES / "does-not-exist.json"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr
