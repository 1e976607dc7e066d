"""`make serve` out of the box, then the README's curl: a message reaches the stand-in receivers,
offline, with no traceback and every log line printed once.

The serve command is the Makefile's own recipe (read from the Makefile), started with the
settings `make serve` copies from local.settings.example.json, on a free port, in an
environment without any forewarn or Azure setting (a fresh machine). The alert posted is the
file, key and content type of the README's curl command.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shared.devhost.azurite import free_port
from shared.standins.local_stack import CHANNEL_ORDER

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BOUND_SECONDS = 90


def readme_curl() -> tuple[str, str, Path]:
    """(key, content type, sample file) from the README's curl command."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # A console block: "$ " before the command, its output after it.
    command = re.search(r"^(?:\$ )?(curl .*?/api/alerts.*?(?<!\\))$", readme, re.M | re.S)
    assert command, "README shows no curl command"
    words = shlex.split(command.group(1).replace("\\\n", " "))
    url = next(word for word in words if word.startswith("http://127.0.0.1:7071/api/alerts"))
    key = url.partition("code=")[2]
    header = words[words.index("-H") + 1]
    name, _, content_type = header.partition(":")
    assert name.strip().lower() == "content-type"
    sample = words[words.index("--data-binary") + 1].removeprefix("@")
    return key, content_type.strip(), ROOT / sample


def makefile_serve_command() -> list[str]:
    """The `serve` recipe's command line, with $(PY) as this interpreter."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nserve:", 1)[1].split("\n\n", 1)[0]
    line = next(line.strip() for line in recipe.splitlines() if "shared.cli serve" in line)
    words = shlex.split(line.replace("$(SERVE_ARGS)", ""))
    assert words[0] == "$(PY)", line
    return [sys.executable, *words[1:]]


class Output:
    """The serve process's merged stdout and stderr, line by line, read in a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate: str | re.Pattern[str], deadline: float) -> bool:
        while time.monotonic() < deadline:
            if any(
                (predicate in line) if isinstance(predicate, str) else predicate.search(line)
                for line in list(self.lines)
            ):
                return True
            if self._process.poll() is not None:
                time.sleep(0.2)  # let the reader catch the last lines
                return False
            time.sleep(0.1)
        return False


@pytest.fixture
def make_serve(tmp_path: Path) -> Iterator[tuple[str, Output]]:
    settings = tmp_path / "local.settings.json"
    shutil.copy(ROOT / "local.settings.example.json", settings)  # what `make serve` does
    port = free_port()
    fresh = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FOREWARN_", "AZURE_", "AzureWebJobs", "APPLICATIONINSIGHTS_"))
    }
    command = [*makefile_serve_command(), "--port", str(port), "--settings", str(settings)]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=fresh,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = Output(process)
    try:
        yield f"http://127.0.0.1:{port}", output
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_the_readme_sample_is_the_fixture_it_names() -> None:
    _, _, sample = readme_curl()
    fixture = ROOT / "tests/fixtures/forewarn/common-servicehealth-maintenance-planned-vms.json"
    assert sample.read_bytes() == fixture.read_bytes()


def test_make_serve_and_the_readme_curl_deliver_to_the_stand_ins(
    make_serve: tuple[str, Output],
) -> None:
    base, output = make_serve
    deadline = time.monotonic() + BOUND_SECONDS
    assert output.wait_for("listening on", deadline), "\n".join(output.lines)

    health = requests.get(f"{base}/api/health", timeout=10)
    assert health.status_code == 200, health.text
    assert health.json()["routing"] == "ok"

    key, content_type, sample = readme_curl()
    answer = requests.post(
        f"{base}/api/alerts",
        params={"code": key},
        data=sample.read_bytes(),
        headers={"Content-Type": content_type},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text

    for channel in CHANNEL_ORDER:
        assert output.wait_for(f"stand-in {channel} received:", deadline), "\n".join(output.lines)
    webhook = next(line for line in output.lines if "stand-in webhook received:" in line)
    assert "signature verified: True" in webhook
    assert re.search(r"event \S+, [1-9]\d* VMs", webhook), webhook  # enriched by the stand-in ARM

    text = "\n".join(output.lines)
    assert "Traceback" not in text
    assert "DefaultAzureCredential" not in text
    assert not [line for line in output.lines if line.startswith("{")], "JSON and text both"
    accepted = [
        line for line in output.lines if json.dumps(answer.json()["event_id"])[1:-1] in line
    ]
    assert len(accepted) == len(set(accepted)), "a log line printed twice"
