"""The stand-ins' extra and the dev requirements pin the same aiosmtpd, and the app does not.

GIVEN pyproject.toml's ``standins`` extra, requirements-dev.txt and requirements.txt
THEN  | file                 | aiosmtpd                                                   |
      | pyproject standins   | pinned (==)                                                |
      | requirements-dev.txt | the same pin (the tests run the SMTP relay)                |
      | requirements.txt     | absent (what Azure installs; the app never starts a relay) |
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\[\]-]+)==([^\s#]+)", line.strip())
        if match:
            found[match.group(1).split("[")[0].lower()] = match.group(2)
    return found


def test_the_extra_and_the_dev_requirements_pin_one_aiosmtpd() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (extra,) = project["optional-dependencies"]["standins"]
    name, _, version = extra.partition("==")
    assert name == "aiosmtpd"
    assert version
    assert _pins(ROOT / "requirements-dev.txt")[name] == version


def test_the_app_requirements_leave_aiosmtpd_out() -> None:
    assert "aiosmtpd" not in _pins(ROOT / "requirements.txt")
