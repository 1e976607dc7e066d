"""`forewarn sweep` in a world where no notice has named a VM yet (a fresh `forewarn stand-in`,
a new deployment): it says how to give it something to sweep, instead of only that it has none.

GIVEN fresh storage (its own Azurite: no maintenance records) and no FOREWARN_SWEEP_SUBSCRIPTIONS
WHEN  `forewarn sweep --dry-run [--json]` runs
THEN  exit 1 (nothing to do), one stderr line naming --subscription and the setting, and with
      --json an empty list on stdout, so a script reading it still gets JSON
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import names
from shared.cli import main
from shared.devhost.azurite import Azurite

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def empty_storage() -> Iterator[str]:
    # Its own Azurite (a few seconds): the session's holds other tests' records.
    server = Azurite.start()
    try:
        yield server.connection_string
    finally:
        server.stop()


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_sweep_with_nothing_to_sweep_says_how_to_name_subscriptions(
    empty_storage: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    as_json: bool,
) -> None:
    monkeypatch.setenv(names.STORAGE_CONNECTION, empty_storage)
    monkeypatch.setenv("FOREWARN_CONFIG", str(ROOT / "examples" / "routing.yaml"))
    monkeypatch.setenv("FOREWARN_ARM_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("FOREWARN_ARM_TOKEN", "unused-no-subscription-is-read")
    monkeypatch.delenv("FOREWARN_SWEEP_SUBSCRIPTIONS", raising=False)
    code = main(["sweep", "--dry-run", *(["--json"] if as_json else [])])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.splitlines() == [
        "forewarn sweep: no subscription to sweep: no notice has named a VM yet; give "
        "--subscription ID or set FOREWARN_SWEEP_SUBSCRIPTIONS"
    ]
    assert (json.loads(out) == []) if as_json else out == ""
