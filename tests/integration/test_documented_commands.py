"""Every command block of README.md and docs/operations.md runs, as written, against the local
world that ``forewarn serve`` (what ``make serve`` runs) starts, the way doctests run examples.

The convention, for whoever writes these documents:

- A fenced block marked ``sh`` or ``console`` is run, top to bottom, README.md first, in one
  directory (which has the repository's ``examples/``) with the ``export`` lines ``forewarn
  serve`` prints applied, and ``.venv/bin`` on ``PATH``.
- In an ``sh`` block each line is a command (``#`` starts a comment, ``\\`` continues a line);
  it must finish with exit code 0 or 1 (1 = partial or nothing to do) and no traceback.
- In a ``console`` block, ``$ `` starts a command and the lines after it, up to the next
  ``$ `` or the end, are its output (stdout and stderr as a terminal shows them): the
  expected lines must appear as printed lines, in order and one after the other; ``...``
  inside a line stands for any text, a line that is only ``...`` for any number of lines.
- A ``text`` block right after ``<!-- doctest: serve prints -->`` lists lines ``make serve``
  prints by itself (e.g. what each stand-in receiver got after the ``curl``), matched the
  same way, in any order, within a few seconds.
- ``<!-- doctest: skip: REASON -->`` on the line before a block leaves it out; the reason is
  required (it says what the block needs that the local world has not, e.g. real Azure).
- Placeholders a reader replaces are replaced here too: ``SUB_ID`` (the demo fleet's
  subscription), ``VM_ID...`` (two of its VMs), ``ID`` (the id the last ``forewarn silence
  add`` printed); ``127.0.0.1:7071`` becomes the port this test's host listens on.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.devhost.azurite import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", "docs/operations.md")
RUN_LANGUAGES = ("sh", "console")
DEMO_SUBSCRIPTION = "11111111-1111-1111-1111-111111111111"
DEMO_VM = (
    f"/subscriptions/{DEMO_SUBSCRIPTION}/resourceGroups/rg-shop-prod/providers/"
    "Microsoft.Compute/virtualMachines/"
)
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!-- doctest: (skip: (?P<reason>.*?)|(?P<serve>serve prints)) -->$")
_EXPORT = re.compile(r"^\s*export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


@dataclass(frozen=True)
class Block:
    document: str
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    skip: str | None = None  # the reason, when marked skip
    serve_prints: bool = False

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"


def blocks(document: str) -> list[Block]:
    found: list[Block] = []
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        marker = _MARKER.match(lines[index - 1].strip()) if index else None
        reason = marker.group("reason") if marker else None
        found.append(
            Block(
                document,
                index + 1,
                fence.group(1),
                "\n".join(lines[index + 1 : end]),
                skip=reason,
                serve_prints=bool(marker and marker.group("serve")),
            )
        )
        index = end + 1
    return found


ALL_BLOCKS = [block for document in DOCUMENTS for block in blocks(document)]


# ---- the convention itself (no local world needed) ------------------------------------


def test_every_command_block_is_run_or_skipped_with_a_reason() -> None:
    commands = [b for b in ALL_BLOCKS if b.language in RUN_LANGUAGES]
    assert len(commands) >= 5, "the documents have command blocks to run"
    for block in commands:
        assert block.skip is None or block.skip.strip(), f"{block.where}: skip without a reason"
    unmarked = [b.where for b in ALL_BLOCKS if b.language in ("", "bash", "shell")]
    assert not unmarked, f"mark command blocks sh or console (or text): {unmarked}"


def test_the_readme_lists_every_function_name_serve_functions_takes() -> None:
    import function_app
    from shared.devhost.catalog import functions_of

    row = next(
        line
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| `forewarn serve`")
    )
    listed = set(re.findall(r"`([a-z_]+)`", row))
    assert set(functions_of(function_app.app)) <= listed, row


# ---- the local world ------------------------------------------------------------------


@dataclass
class World:
    port: int
    env: dict[str, str]
    workdir: Path
    printed: list[str]  # what serve prints, as it prints it

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("documented")
    (workdir / "examples").symlink_to(ROOT / "examples")
    settings = workdir / "local.settings.json"
    shutil.copy(ROOT / "local.settings.example.json", settings)
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FOREWARN_", "Azure"))}
    base["PATH"] = f"{bin_dir}{os.pathsep}{base.get('PATH', '')}"
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shared.cli",
            "serve",
            "--with-azurite",
            "--port",
            str(port),
            "--settings",
            str(settings),
        ],
        cwd=ROOT,
        env=base,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    printed: list[str] = []
    listening = threading.Event()

    def drain() -> None:
        assert serve.stderr is not None
        for line in serve.stderr:
            printed.append(line.rstrip("\n"))
            if "listening on" in line:
                listening.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        assert listening.wait(60), "forewarn serve did not start:\n" + "\n".join(printed)
        env = dict(base)
        for line in printed:
            found = _EXPORT.match(line)
            if found:
                env[found.group(1)] = shlex.split(found.group(2))[0]
        yield World(port, env, workdir, printed)
    finally:
        serve.terminate()
        serve.wait(30)


# ---- running blocks -------------------------------------------------------------------


class Placeholders:
    def __init__(self, port: int) -> None:
        self.port = port
        self.silence_id = "no-silence-added-yet"

    def fill(self, command: str) -> str:
        command = command.replace("127.0.0.1:7071", f"127.0.0.1:{self.port}")
        command = command.replace("VM_ID...", f"{DEMO_VM}sql-01 {DEMO_VM}sql-02")
        command = re.sub(r"\bSUB_ID\b", DEMO_SUBSCRIPTION, command)
        return re.sub(r"\bID$", self.silence_id, command)

    def learn(self, command: str, output: str) -> None:
        if "forewarn silence add" in command:
            first = output.strip().splitlines()[0] if output.strip() else ""
            self.silence_id = first.split()[0] if first else self.silence_id


def commands_of(block: Block) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) in order; sh blocks expect nothing in particular."""
    found: list[tuple[str, list[str]]] = []
    pending = ""
    for raw in block.text.splitlines():
        if block.language == "console" and not raw.startswith("$ ") and found and not pending:
            found[-1][1].append(raw)
            continue
        line = raw[2:] if block.language == "console" else raw
        if not line.strip() or (line.lstrip().startswith("#") and not pending):
            continue
        pending += line
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        found.append((pending, []))
        pending = ""
    return found


def pattern_of(expected: list[str]) -> re.Pattern[str]:
    parts = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:.*\n)*?")
        else:
            text = ".*".join(re.escape(p) for p in line.rstrip().split("..."))
            parts.append(rf"^{text}[ \t]*\n")
    return re.compile("".join(parts), re.MULTILINE)


RUNNABLE = [
    b for b in ALL_BLOCKS if b.skip is None and (b.language in RUN_LANGUAGES or b.serve_prints)
]


def test_every_documented_command_runs_as_written(world: World) -> None:
    """One test, in document order: later blocks rely on earlier ones (the posted alert)."""
    fill = Placeholders(world.port)
    failures: list[str] = []
    for block in RUNNABLE:
        if block.serve_prints:
            failures += _check_serve_prints(block, world)
            continue
        for command, expected in commands_of(block):
            filled = fill.fill(command)
            result = world.run(filled)
            fill.learn(command, result.stdout)
            said = f"{block.where}: `{command}` (exit {result.returncode}):\n{result.stdout}"
            if result.returncode not in (0, 1) or "Traceback" in result.stdout:
                failures.append(said)
            elif expected and not pattern_of(expected).search(result.stdout + "\n"):
                failures.append(said + "\nexpected:\n" + "\n".join(expected))
    assert not failures, "\n\n".join(failures)


def _check_serve_prints(block: Block, world: World) -> list[str]:
    wanted = [line for line in block.text.splitlines() if line.strip()]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = "\n".join(world.printed) + "\n"
        missing = [line for line in wanted if not pattern_of([line]).search(text)]
        if not missing:
            return []
        time.sleep(0.25)
    return [
        f"{block.where}: serve did not print:\n" + "\n".join(missing) + "\nit printed:\n" + text
    ]


def test_silence_help_says_what_the_readme_says_list_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shared.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `forewarn silence"))
    said = re.search(r"`list` with none prints `([^`]+)`", row)
    assert said, row
    with pytest.raises(SystemExit):
        main(["silence", "--help"])
    assert f'"{said.group(1)}"' in " ".join(capsys.readouterr().out.split())
