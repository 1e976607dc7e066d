"""What `forewarn serve` prints reaches its stream one whole line per write.

The receivers' and pollers' threads log to the same stderr; a line written in two parts (text,
then newline, as print() does) can have another thread's line land in the middle, and then
neither line reads as printed (the documented-commands test matches serve's lines)."""

from __future__ import annotations

import io

import pytest

from shared.cli import serve_command


class WriteRecorder(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


@pytest.mark.parametrize(
    "said",
    [
        "stand-in slack received: Maintenance planned",
        "export FOREWARN_ARM_TOKEN=stand-in",
    ],
)
def test_each_line_serve_says_is_one_write(monkeypatch: pytest.MonkeyPatch, said: str) -> None:
    # GIVEN serve's stderr  WHEN serve says a line  THEN it arrives in one write, newline included
    stream = WriteRecorder()
    monkeypatch.setattr("sys.stderr", stream)
    serve_command._say(said)
    assert stream.writes == [f"forewarn serve: {said}\n"]
