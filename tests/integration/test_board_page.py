"""The board through `forewarn serve` on Azurite: ``GET /api/waves/{tracking_id}`` and
``forewarn wave show``.

GIVEN a wave of three VMs in Azurite's records (web-1 to start yourself, claimed by Alice and
snoozed; web-2 left to Azure; web-3 done) and the app served with a board read key,
WHEN the page is asked for as below, THEN it answers by its key, and the page it draws states
nothing its records and claims contradict (the truth oracle reads it); the command line shows
the same board.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import requests

from shared import names
from shared.cli import main
from shared.enrich.instance_view import VmRef, to_virtual_machine
from shared.models import Advice
from shared.standins.arm_fleet import FleetVm, window_from
from shared.standins.served import served as serve_process
from shared.storage import StorageServices
from shared.wave.claims import ClaimStore
from shared.wave.records import MaintenanceRecord, SentNotice, TableRecordStore
from tests.support.azurite import Azurite
from tests.support.truth_oracle import board_text_untrue, board_untrue

pytestmark = pytest.mark.integration

KEY = "board-read-key-for-tests-only"
NOW = datetime.now(UTC).replace(microsecond=0)
SUB = str(uuid.uuid4())
WAVE = f"BOARD-{uuid.uuid4().hex[:8].upper()}"


def _record(name: str, action: str, status: str, days: int) -> MaintenanceRecord:
    """A VM whose self-service window opened ``days`` ago, 30 days long."""
    fleet_vm = FleetVm(SUB, "rg-web", name, maintenance=window_from(NOW - timedelta(days=days)))
    vm = to_virtual_machine(VmRef(fleet_vm.id), fleet_vm.model(), fleet_vm.instance_view())
    vm = replace(vm, advice=Advice(action, [], self_service_advised=action == "self_service"))  # type: ignore[arg-type]
    made = MaintenanceRecord.from_vm(vm, tracking_id=WAVE, now="2030-01-01T00:00:00Z")
    told = SentNotice("announced:e1", "announced", "e1", (NOW - timedelta(days=days)).isoformat())
    return replace(made, status=status, sent=(told,))  # type: ignore[arg-type]


RECORDS = [
    _record("web-1", "self_service", "pending", 25),
    _record("web-2", "let_azure", "pending", 20),
    _record("web-3", "self_service", "completed", 20),
]


@pytest.fixture(scope="module")
def storage(azurite: Azurite) -> StorageServices:
    storage = StorageServices.from_settings({names.STORAGE_CONNECTION: azurite.connection_string})
    TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS)).put_many(RECORDS)
    claims = ClaimStore(storage.table(names.TABLE_CLAIMS))
    claims.claim_vm(RECORDS[0].vm_id, "Alice <ops>", "ops-email", NOW)
    claims.snooze(RECORDS[0].vm_id, NOW + timedelta(hours=24))
    return storage


@pytest.fixture(scope="module")
def served(azurite: Azurite, storage: StorageServices) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(names.SETTING_BOARD_READ_KEY, KEY)
        functions = (names.FUNCTION_BOARD, names.FUNCTION_HEALTH)
        with serve_process(azurite.connection_string, "unused-alerts-key", functions) as base:
            yield base


ANSWERS = [
    # GIVEN the request                                     THEN status, the page says
    ("no key", "", {}, 401, "Key needed"),
    ("wrong key", "?key=not-the-board-key", {}, 401, "Key needed"),
    ("the alerts key opens nothing here", "?code=unused-alerts-key", {}, 401, "Key needed"),
    ("key as header", "", {"x-forewarn-board-key": KEY}, 200, f"Wave {WAVE}"),
    ("unknown zone", f"?key={KEY}&tz=Nowhere/Land", {}, 400, "Unknown time zone"),
]


@pytest.mark.parametrize(
    ("query", "headers", "status", "says"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS]
)
def test_the_page_answers_by_its_own_key(
    served: str, query: str, headers: dict[str, str], status: int, says: str
) -> None:
    answer = requests.get(f"{served}/api/waves/{WAVE}{query}", headers=headers, timeout=10)
    assert (answer.status_code, says in answer.text) == (status, True)
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert "script-src" not in answer.headers["Content-Security-Policy"]


def test_an_unknown_wave_is_404(served: str) -> None:
    answer = requests.get(f"{served}/api/waves/NO-SUCH-WAVE?key={KEY}", timeout=10)
    assert answer.status_code == 404 and "No such wave" in answer.text


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles"])
def test_the_page_states_nothing_its_records_contradict(
    served: str, storage: StorageServices, zone: str
) -> None:
    answer = requests.get(f"{served}/api/waves/{WAVE}?key={KEY}&tz={zone}", timeout=10)
    assert answer.status_code == 200
    page = answer.text
    # THEN the table and the timeline: three rows, six bars, a line for now; nothing to run
    assert page.count('<tr id="vm-') == 3 and page.count('<rect class="bar') == 6
    assert '<line class="now"' in page and "<script" not in page
    assert "claimed by Alice &lt;ops&gt;" in page
    # THEN what it says of each VM is what its records and claims hold, in the zone it names
    ownership = ClaimStore(storage.table(names.TABLE_CLAIMS)).ownership()
    assert f"Times in {zone};" in page
    said_now = datetime.now(UTC)
    found = board_untrue(page, RECORDS, ownership, said_now)
    assert found == [], [str(item) for item in found]


def test_the_command_line_shows_the_same_board(
    azurite: Azurite,
    storage: StorageServices,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(names.STORAGE_CONNECTION, azurite.connection_string)
    assert main(["wave", "show", WAVE, "--json"]) == 0
    board = json.loads(capsys.readouterr().out)
    assert [vm["name"] for vm in board["vms"]] == ["web-1", "web-2", "web-3"]
    assert board["vms"][0]["owners"] == [{"receiver": "ops-email", "by": "Alice <ops>"}]
    assert [vm["state"] for vm in board["vms"]] == ["pending", "pending", "completed"]
    # THEN its text states nothing its records and claims contradict, in the zone asked for
    zone = "America/Los_Angeles"
    assert main(["wave", "show", WAVE, "--timezone", zone]) == 0
    text = capsys.readouterr().out.splitlines()
    ownership = ClaimStore(storage.table(names.TABLE_CLAIMS)).ownership()
    assert board_text_untrue(text, RECORDS, ownership, zone, datetime.now(UTC)) == []
    assert any("claimed by Alice <ops>" in line for line in text)
    assert main(["wave", "show"]) == 0
    assert f"{WAVE}  3 VMs, 2 open, 1 claimed" in capsys.readouterr().out
    assert main(["wave", "show", "NO-SUCH-WAVE"]) == 2
    assert "no record of wave" in capsys.readouterr().err
