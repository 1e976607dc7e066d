"""The forwarder runs on VMs with a stock python3: it imports the standard library and itself.

GIVEN every module of forwarder/
THEN  each import names a standard-library module or forwarder itself (never shared, never a
      package from PyPI)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import yaml

FORWARDER = Path(__file__).resolve().parents[2] / "forwarder"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", sorted(FORWARDER.glob("*.py")), ids=lambda path: path.name)
def test_the_forwarder_imports_only_the_standard_library(path: Path) -> None:
    outside = {
        name
        for name in _imports(path)
        if name not in sys.stdlib_module_names and name not in {"forwarder", "__future__"}
    }
    assert outside == set()


def test_the_forwarder_ships_its_unit_and_cloud_init() -> None:
    unit = (FORWARDER / "forewarn-forwarder.service").read_text(encoding="utf-8")
    assert "ExecStart=/usr/bin/python3 -m forwarder" in unit
    assert "StateDirectory=forewarn-forwarder" in unit
    cloud_init = (FORWARDER / "cloud-init.yaml").read_text(encoding="utf-8")
    assert cloud_init.startswith("#cloud-config\n")
    # The archive is checked against its sha256 before its install.sh (which enables the unit)
    # runs; the release build fills both placeholders in (forwarder/release.py).
    script = "\n".join(yaml.safe_load(cloud_init)["runcmd"][0])
    assert script.index("sha256sum -c -") < script.index("install.sh")
    assert "FORWARDER_ARCHIVE_SHA256" in script and "FORWARDER_ARCHIVE_URL" in script
    install = (FORWARDER / "install.sh").read_text(encoding="utf-8")
    assert "systemctl enable forewarn-forwarder.service" in install
