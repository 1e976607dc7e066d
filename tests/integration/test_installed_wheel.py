"""forewarn stands on its own: the wheel, installed away from the checkout, runs its commands.

GIVEN the wheel built from a copy of the sources, installed with the pinned requirements and
      the ``standins`` extra into a fresh virtual environment in a temporary folder
WHEN  its ``forewarn`` runs from that folder (no checkout on the path)
THEN  | command                          | shows                                             |
      | forewarn --help                  | every command, among them parse and stand-in      |
      | python -c "import shared"        | the installed copy, not the checkout's            |
      | forewarn parse SAMPLE            | the normalised event, exit 0                      |
      | forewarn stand-in                | export lines; its ARM answers `forewarn vms`;     |
      |                                  | SIGTERM stops it with exit 0                      |

One install serves every case (about a minute, pip's cache reused): the module-scoped fixture.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "alerts" / "service-health-maintenance.json"
DEMO_SUBSCRIPTION = "11111111-1111-1111-1111-111111111111"
SOURCES = ("shared", "functions", "function_app.py", "pyproject.toml")
STEP_SECONDS = 300


class Installed:
    def __init__(self, home: Path) -> None:
        self.home = home  # outside the checkout; commands run here
        self.bin = home / "venv" / "bin"

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        # Nothing of the test's own environment may point back at the checkout or its settings.
        kept = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("FOREWARN_", "PYTHON", "VIRTUAL_ENV"))
        }
        return {**kept, **(extra or {})}

    def run(
        self, *args: str, extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.home,
            env=self.environ(extra),
            capture_output=True,
            text=True,
            timeout=STEP_SECONDS,
        )


def _pip(*args: str, cwd: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        cwd=cwd,
        check=True,
        timeout=STEP_SECONDS,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    home = tmp_path_factory.mktemp("installed-forewarn")
    source = home / "source"
    source.mkdir()
    # A copy, so that building leaves no build/ or egg-info in the checkout.
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    _pip("wheel", "--no-deps", "-w", str(home / "dist"), "./source", cwd=home)
    (wheel,) = (home / "dist").glob("forewarn-*.whl")
    # No pip inside: this test's pip installs into it (--python), which saves bootstrapping one.
    venv.create(home / "venv", with_pip=False)
    _pip(
        "--python", str(home / "venv" / "bin" / "python"), "install",
        "-r", str(ROOT / "requirements.txt"), f"{wheel}[standins]",
        cwd=home,
    )  # fmt: skip
    return Installed(home)


def test_help_lists_the_commands(installed: Installed) -> None:
    done = installed.run("forewarn", "--help")
    assert done.returncode == 0, done.stderr
    assert "parse" in done.stdout
    assert "stand-in" in done.stdout


def test_the_package_is_the_installed_copy(installed: Installed) -> None:
    done = installed.run("python", "-c", "import shared, shared.standins; print(shared.__file__)")
    assert done.returncode == 0, done.stderr
    where = Path(done.stdout.strip())
    assert where.is_relative_to(installed.home / "venv")
    assert not where.is_relative_to(ROOT)


def test_parse_a_sample(installed: Installed) -> None:
    done = installed.run("forewarn", "parse", str(SAMPLE))
    assert done.returncode == 0, done.stderr
    event = json.loads(done.stdout)
    assert event["kind"] == "service_health"
    assert event["subscription_ids"] == [DEMO_SUBSCRIPTION]


@pytest.fixture
def stand_in(installed: Installed) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    process = subprocess.Popen(
        [str(installed.bin / "forewarn"), "stand-in"],
        cwd=installed.home,
        env=installed.environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    exports: dict[str, str] = {}
    try:
        while True:
            line = lines.get(timeout=60)
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value.strip("'")
            if line.startswith("# messages"):
                break
        yield process, exports
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=15)


def test_stand_in_starts_serves_and_stops(
    installed: Installed, stand_in: tuple[subprocess.Popen[str], dict[str, str]]
) -> None:
    process, exports = stand_in
    assert exports["FOREWARN_ARM_ENDPOINT"].startswith("http://127.0.0.1:")
    assert "FOREWARN_CONFIG" in exports

    listed = installed.run("forewarn", "vms", "--subscription", DEMO_SUBSCRIPTION, extra=exports)
    assert listed.returncode == 0, listed.stderr
    assert "web-01" in listed.stdout

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
