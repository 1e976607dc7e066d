"""The commands that need ARM or a routing file, offline: `forewarn enrich` against the stand-in
ARM feeds `route` and `render`; `forewarn init` writes a routing file that validates; each
command's --help says what it takes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import names
from shared.cli import main
from shared.models import EnrichedEvent
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
    assert {entry["type"] for entry in decision} == set(names.CHANNELS)
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
