"""The commands that need ARM or a routing file, offline: `forewarn enrich` against the stand-in
ARM feeds `route` and `render`; `forewarn init` writes a routing file that validates; each
command's --help says what it takes."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from shared import names
from shared.cli import main
from shared.models import EnrichedEvent
from shared.standins.local_stack import CHANNEL_ORDER
from shared.standins.stand_ins import OfflineStandIns

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "alerts" / "service-health-maintenance.json"


@pytest.fixture
def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OfflineStandIns:
    with OfflineStandIns(tmp_path / "stand-ins") as running:
        for name, value in running.settings.items():
            monkeypatch.setenv(name, value)
        yield running


def test_enrich_then_route_and_render(
    stand_ins: OfflineStandIns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enriched_file = tmp_path / "enriched.json"
    assert main(["enrich", "--event", str(SAMPLE), "--out", str(enriched_file)]) == 0
    enriched = EnrichedEvent.from_json(json.loads(enriched_file.read_text(encoding="utf-8")))
    assert {vm.name for vm in enriched.vms} >= {"web-01", "web-02", "sql-01"}
    capsys.readouterr()

    assert main(["route", "--event", str(enriched_file), "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    # Every channel of the local world (its PagerDuty receiver is an escalation target only).
    assert {entry["type"] for entry in decision} == set(CHANNEL_ORDER)
    assert all("web-01" in entry["vms"] for entry in decision)

    assert main(["render", "--event", str(enriched_file), "--channel", "email"]) == 0
    assert "web-01" in json.loads(capsys.readouterr().out)["text"]


def test_enrich_takes_parse_output_too(
    stand_ins: OfflineStandIns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parse", str(SAMPLE)]) == 0
    event_file = tmp_path / "event.json"
    event_file.write_text(capsys.readouterr().out, encoding="utf-8")
    assert main(["enrich", "--event", str(event_file)]) == 0
    assert json.loads(capsys.readouterr().out)["vms"]


def test_init_writes_a_routing_file_that_validates_and_never_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert (tmp_path / "forewarn.yaml").read_text() == (ROOT / "examples/routing.yaml").read_text()
    assert main(["config", "validate", "forewarn.yaml"]) == 0
    assert main(["init"]) == 2


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("enrich", "forewarn route --event enriched.json"),
        ("route", "forewarn enrich"),
        ("render", "forewarn enrich"),
        ("stand-in", "export"),
        ("init", "forewarn.yaml"),
    ],
)
def test_help_says_what_a_command_takes(
    command: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert says in capsys.readouterr().out


def _parsed(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["parse", str(path)]) == 0
    event_file = tmp_path / "event.json"
    event_file.write_text(capsys.readouterr().out, encoding="utf-8")
    return event_file


@pytest.mark.parametrize("argv", [["route"], ["route", "--json"], ["render", "--channel", "slack"]])
def test_a_parsed_maintenance_event_points_to_enrich_instead_of_an_answer_without_vms(
    stand_ins: OfflineStandIns,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    # GIVEN forewarn parse's output for a maintenance notice about VMs (it names none yet)
    event_file = _parsed(SAMPLE, tmp_path, capsys)
    # WHEN it is routed or rendered as it is
    code = main([*argv, "--event", str(event_file)])
    # THEN one line says to enrich it first, and nothing is answered on stdout
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert f"forewarn enrich --event {event_file} --out enriched.json" in err
    assert len(err.splitlines()) == 1, err


def test_a_parsed_notice_about_no_vms_is_routed_as_it_is(
    stand_ins: OfflineStandIns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a Service Health incident (no VMs to read: enriching would add nothing)
    incident = (
        ROOT / "tests" / "fixtures" / "azure" / "common-servicehealth-incident-testaction-2021.json"
    )
    event_file = _parsed(incident, tmp_path, capsys)
    # WHEN it is routed THEN it reaches the receivers, with no pointer to enrich
    assert main(["route", "--event", str(event_file)]) == 0
    out, err = capsys.readouterr()
    assert "receivers" in out and "forewarn enrich" not in err


def test_render_for_a_channel_the_event_does_not_reach_says_so(
    stand_ins: OfflineStandIns, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a routing file with only an email receiver, and an enriched event
    enriched_file = tmp_path / "enriched.json"
    assert main(["enrich", "--event", str(SAMPLE), "--out", str(enriched_file)]) == 0
    routing = tmp_path / "email-only.yaml"
    routing.write_text(
        "version: 1\nreceivers:\n  - name: ops\n    type: email\n    targets: [ops@contoso.nl]\n"
        "    timezone: Europe/Amsterdam\n"
        "    options: {from: forewarn@contoso.nl, smtp_host: smtp.contoso.nl}\n"
        "route:\n  receivers: [ops]\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    # WHEN its SMS is rendered
    code = main(
        ["render", "--event", str(enriched_file), "--channel", "sms", "--config", str(routing)]
    )
    # THEN the message is shown, and stderr says no SMS receiver gets it (rendered in UTC)
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["text"]
    assert f"no sms receiver of {routing} gets this event" in err
    assert "UTC" in err


def test_stand_in_is_a_whole_local_world_the_storage_and_workspace_commands_work_in(
    tmp_path: Path,
) -> None:
    # GIVEN forewarn stand-in, run from the checkout as the README says
    import os
    import signal
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOREWARN_", "Azure"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "stand-in"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    exports: dict[str, str] = {}
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = shlex.split(value)[0]
            if line.startswith("# messages"):
                break
        # THEN it prints the settings of storage, ARM (with its token), the workspace and the
        # receivers' routing file
        assert {
            names.STORAGE_CONNECTION,
            names.SETTING_ARM_ENDPOINT,
            names.SETTING_ARM_TOKEN,
            names.SETTING_LOG_ANALYTICS_WORKSPACE_ID,
            names.SETTING_LOG_ANALYTICS_ENDPOINT,
            names.SETTING_CONFIG,
        } <= set(exports), exports
        # AND the commands that need storage or the workspace run against them
        for argv in (["silence", "list"], ["deadletter", "list"], ["catch-up", "--dry-run"]):
            done = subprocess.run(
                [sys.executable, "-m", "shared.cli", *argv],
                cwd=tmp_path,
                env={**env, **exports},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
