"""`make test` on a fresh machine: it installs what it needs, or stops at once with one line
saying what to install; `.ci/run` needs nothing beyond it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make") or "/usr/bin/make"
# make's own report of a failed recipe: `make: ***` or, in a sub-make, `make[1]: ***`.
MAKE_OWN_LINE = re.compile(r"^make(\[\d+\])?: ")


def test_test_target_depends_on_the_browser() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (line,) = [line for line in makefile.splitlines() if line.startswith("test:")]
    assert "browser" in line.split(":", 1)[1].split()


def test_without_chromium_and_without_apt_the_browser_target_says_what_to_install(
    tmp_path: Path,
) -> None:
    # A PATH with `id` only: no chromium, no apt-get (as on a machine we may not install on).
    (tmp_path / "id").symlink_to(shutil.which("id") or "/usr/bin/id")
    result = subprocess.run(
        [MAKE, "--no-print-directory", "-s", "browser"],
        cwd=ROOT,
        # Without the parent make's variables: under `make test` they would make this a
        # sub-make, whose own lines then read `make[1]: ...`.
        env={
            **{
                k: v for k, v in os.environ.items() if k not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}
            },
            "PATH": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if not MAKE_OWN_LINE.match(line)]
    assert len(lines) == 1, result.stderr
    assert "apt-get install chromium" in lines[0]


def test_ci_runs_make_test_and_nothing_else() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line.strip()
        for line in script.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == "make test"
    assert not [
        c for c in commands if "apt-get" in c.split() or "pip" in c.split() or "npm" in c.split()
    ]
