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
AZURITE_BIN = PROJECT_ROOT / "node_modules" / ".bin" / "azurite"


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

    @classmethod
    def start(cls, timeout_seconds: float = 30.0) -> Azurite:
        if not AZURITE_BIN.exists():
            raise AzuriteNotInstalledError(f"{AZURITE_BIN.name} missing; run `npm ci`")
        blob, queue, table = free_port(), free_port(), free_port()
        workdir = tempfile.mkdtemp(prefix="forewarn-azurite-")
        process = subprocess.Popen(
            [
                str(AZURITE_BIN),
                "--silent",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--inMemoryPersistence",
                "--location", workdir,
                "--blobHost", "127.0.0.1", "--blobPort", str(blob),
                "--queueHost", "127.0.0.1", "--queuePort", str(queue),
                "--tableHost", "127.0.0.1", "--tablePort", str(table),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        deadline = time.monotonic() + timeout_seconds
        try:
            for port in (blob, queue, table):
                _wait_for_port(port, deadline)
        except TimeoutError:
            process.kill()
            raise
        return cls(process, blob, queue, table, workdir)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
