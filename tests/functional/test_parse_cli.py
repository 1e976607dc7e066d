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
    ("text", "first_line"),
    [
        ("{broken", "/: is not valid JSON at line 1 column 2"),
        ("", "/: is not valid JSON at line 1 column 1"),
        ("[1, 2, 3]", "/: must be a JSON object"),
        ('{"level": ' + "9" * 5000 + "}", "/: is not valid JSON: number too long (5000 digits"),
        ('{"level": NaN}', "/: is not valid JSON: NaN is not a JSON value"),
        ("[" * 100_000, "/: nests deeper than any alert does"),
    ],
    ids=["broken", "empty", "top-level array", "huge integer", "NaN", "deep"],
)
def test_what_is_not_an_alert_object_is_exit_2_at_the_root(text: str, first_line: str) -> None:
    # GIVEN a body that is not a JSON object WHEN parsed THEN the root is named "/", never ""
    result = parse("-", stdin=text)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(first_line), result.stderr
    assert "Traceback" not in result.stderr


def test_problems_are_listed_in_the_same_bounds_as_the_400() -> None:
    payload = json.loads(
        (FIXTURES / "forewarn/common-servicehealth-maintenance-planned.json").read_text()
    )
    payload["data"]["essentials"]["alertTargetIDs"] = list(range(1000))
    result = parse("-", stdin=json.dumps(payload))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 21
    assert lines[-1] == "… and 980 more problems"


def test_missing_file_is_exit_2() -> None:
    result = parse(str(FIXTURES / "does-not-exist.json"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr
