"""`forewarn serve` frames requests itself: raw bytes over a socket, answers at once.

A body's length is judged from the headers: a bad or negative Content-Length is a 400, a
chunked body a 411, more than the app accepts a 413, and a request without the function key
a 401 — each before the body is read, so none of these waits for the client or stores 100 MiB.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.ingest import MAX_BODY_BYTES
from shared.standins.served import served as serve_process
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

KEY = "framing-test-key"
HUNDRED_MIB = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def serve_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve") / "serve.log"


@pytest.fixture(scope="module")
def served(azurite: Azurite, serve_log: Path) -> Iterator[tuple[str, int]]:
    with serve_process(azurite.connection_string, KEY, log_file=serve_log) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def exchange(address: tuple[str, int], head: str, body: bytes = b"") -> tuple[int, float]:
    """Send the request head (and part of a body), keep the connection open; the status line
    and how long it took to come."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(head.encode("latin-1") + b"\r\n" + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    elapsed = time.monotonic() - started
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, elapsed


def post_head(path: str, *headers: str) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    return "\r\n".join([*lines, *headers]) + "\r\n"


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("Content-Length: -1", 400),
        ("Content-Length: abc", 400),
        ("Content-Length: 1e3", 400),
        ("Transfer-Encoding: chunked", 411),
        (f"Content-Length: {MAX_BODY_BYTES + 1}", 413),
        (f"Content-Length: {HUNDRED_MIB}", 413),
    ],
)
def test_bad_framing_is_answered_at_once(
    served: tuple[str, int], serve_log: Path, header: str, status: int
) -> None:
    answer, elapsed = exchange(served, post_head(f"/api/alerts?code={KEY}", header), b"{")
    assert (answer, elapsed < 2.0) == (status, True)
    assert "Traceback" not in serve_log.read_text(encoding="utf-8", errors="replace")


def test_a_request_without_the_key_is_refused_before_its_body_is_read(
    served: tuple[str, int],
) -> None:
    head = post_head("/api/alerts", f"Content-Length: {HUNDRED_MIB}")
    answer, elapsed = exchange(served, head, b"x" * 65536)
    assert answer == 401
    assert elapsed < 2.0


def test_a_well_framed_request_still_reaches_the_app(served: tuple[str, int]) -> None:
    answer, _ = exchange(served, post_head(f"/api/alerts?code={KEY}", "Content-Length: 2"), b"{}")
    assert answer == 400  # read in full and judged by the app: not an alert


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 4 * MAX_BODY_BYTES, 8 * 1024 * 1024])
def test_a_client_that_writes_its_whole_oversized_body_first_reads_the_413(
    served: tuple[str, int], size: int
) -> None:
    # GIVEN a client that, like most HTTP libraries, writes the whole body before it reads
    head = post_head(f"/api/alerts?code={KEY}", f"Content-Length: {size}")
    with socket.create_connection(served, timeout=10) as conn:
        # WHEN it sends a body over the limit in full
        conn.sendall(head.encode("latin-1") + b"\r\n" + b"x" * size)
        answer = b""
        while b"\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    # THEN it reads the 413 (not a reset or a broken pipe: the host read and dropped the body)
    assert answer.startswith(b"HTTP/1.1 413 ")
