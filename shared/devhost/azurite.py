"""Start and stop a real Azurite (Storage emulator) on free loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from shared.storage import azurite_connection_string

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def azurite_bin() -> Path:
    """Azurite from the project's node_modules (package.json pins it)."""
    return Path(os.environ.get("FOREWARN_PROJECT_ROOT", PROJECT_ROOT)) / "node_modules/.bin/azurite"


class AzuriteNotInstalledError(RuntimeError):
    """node_modules has no Azurite: run `npm ci` (make does)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"Azurite did not listen on 127.0.0.1:{port}")


def _launch(
    binary: Path,
    ports: tuple[int, int, int],
    workdir: str,
    location: str | None,
    timeout_seconds: float,
) -> subprocess.Popen[bytes]:
    blob, queue, table = ports
    persistence = ["--location", location] if location else ["--inMemoryPersistence"]
    process = subprocess.Popen(
        [
            str(binary),
            "--silent",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            *persistence,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(blob),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(queue),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(table),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,  # any debug log or lock file Azurite writes stays out of the tree
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    deadline = time.monotonic() + timeout_seconds
    try:
        for port in ports:
            _wait_for_port(port, deadline)
    except TimeoutError:
        process.kill()
        raise
    return process


@dataclass
class Azurite:
    process: subprocess.Popen[bytes]
    blob_port: int
    queue_port: int
    table_port: int
    workdir: str

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.blob_port, self.queue_port, self.table_port)

    location: str | None = None  # data directory: what survives a restart

    @classmethod
    def start(
        cls,
        timeout_seconds: float = 30.0,
        *,
        ports: tuple[int, int, int] | None = None,
        location: Path | None = None,
    ) -> Azurite:
        """Azurite on free (or the given) ports; with ``location`` its data lives on disk there,
        so a stop and ``restart()`` keeps every queue, table and blob (storage outage tests)."""
        binary = azurite_bin()
        if not binary.exists():
            raise AzuriteNotInstalledError("node_modules/.bin/azurite is missing; run `npm ci`")
        blob, queue, table = ports or (free_port(), free_port(), free_port())
        workdir = tempfile.mkdtemp(prefix="forewarn-azurite-")
        where = str(location) if location is not None else None
        process = _launch(binary, (blob, queue, table), workdir, where, timeout_seconds)
        return cls(process, blob, queue, table, workdir, where)

    def kill(self) -> None:
        """Stop the process only (an outage); ``restart()`` brings it back on the same ports.

        SIGTERM, not SIGKILL: Azurite writes its metadata to ``location`` on a timer and on
        exit; killed outright it forgets queues created in the last seconds."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self, timeout_seconds: float = 30.0) -> None:
        if self.process.poll() is None:
            self.kill()
        self.process = _launch(
            azurite_bin(),
            (self.blob_port, self.queue_port, self.table_port),
            self.workdir,
            self.location,
            timeout_seconds,
        )

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
