"""Every setting the code reads is listed in local.settings.example.json and docs/configuration.md,
and host.json agrees with the names the code uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import names

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = sorted(value for key, value in vars(names).items() if key.startswith("SETTING_"))


@pytest.mark.parametrize("setting", SETTINGS)
def test_setting_is_in_the_example_and_the_docs(setting: str) -> None:
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert setting in example, f"{setting} missing from local.settings.example.json"
    assert f"`{setting}`" in (ROOT / "docs" / "configuration.md").read_text()


def test_example_settings_hold_no_real_secret() -> None:
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    for key, value in example.items():
        if any(word in key for word in ("TOKEN", "PASSWORD", "SECRET")):
            assert value in ("", "dummy") or value.startswith("dummy"), key


def test_host_json_max_dequeue_count_matches_the_code() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == names.MAX_DEQUEUE_COUNT
    assert host["extensions"]["queues"]["messageEncoding"] == "base64"
