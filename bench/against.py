"""Side by side: a benchmark on a git revision and on the working tree, alternately, one run.

    python -m bench pipeline --against d4e6229 [--rounds 3] [the benchmark's own options]

The revision is checked out with ``git worktree add --detach`` into a temporary directory
(removed after through git, even on failure) and its benchmark runs there as a subprocess
with the same interpreter, its working directory and ``PYTHONPATH`` set to that tree, so the
old code is imported, not this one (the editable install's finder comes after ``sys.path``).
``node_modules`` is linked in for Azurite. Rounds alternate which side goes first, so neither
always meets a warmer or a busier machine; each figure's median over the rounds is compared
and the ratio printed (working tree / revision: below 1 is faster for a time, above 1 is more
for a rate).

An older revision's benchmark may not print the FIGURES line (figures.py); its prose is then
read by the patterns below, which know what the benchmarks printed before that line existed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

from bench.figures import median, parse

ROOT = Path(__file__).resolve().parents[1]


class AgainstError(Exception):
    """The revision could not be checked out, or its benchmark failed or printed no figures."""


def _legacy_pipeline(out: str) -> dict[str, float]:
    # Before the FIGURES line, p50 and p99 were taken over every run, the cold one included.
    found: dict[str, float] = {}
    if m := re.search(r"p50 ([\d.]+) s, p99 ([\d.]+) s, min ([\d.]+) s", out):
        found.update(p50_incl_cold_s=float(m[1]), p99_incl_cold_s=float(m[2]), min_s=float(m[3]))
    if m := re.search(r"first run \(cold caches\) ([\d.]+) s", out):
        found["cold_s"] = float(m[1])
    return found


def _legacy_render(out: str) -> dict[str, float]:
    found = {
        f"{m[1]}_median_ms": float(m[2])
        for m in re.finditer(r"^\s+(\w+)\s+median\s+([\d.]+) ms", out, re.MULTILINE)
    }
    if m := re.search(r"route stage.*?median ([\d.]+) ms", out):
        found["route_stage_ms"] = float(m[1])
    if m := re.search(r"\+ import route stage (\d+) ms \(adds (-?\d+) ms", out):
        found["import_route_stage_adds_ms"] = float(m[2])
    return found


def _legacy_ingest(out: str) -> dict[str, float]:
    found: dict[str, float] = {}
    if m := re.search(r"in-process ingest: ([\d,]+) validated", out):
        found["in_process_per_s"] = float(m[1].replace(",", ""))
    if m := re.search(r"serve \+ Azurite: p50 ([\d.]+) ms, p99 ([\d.]+) ms", out):
        found.update(http_p50_ms=float(m[1]), http_p99_ms=float(m[2]))
    if m := re.search(r"import function_app (\d+) ms.*?adds (-?\d+) ms", out):
        found["import_app_adds_ms"] = float(m[2])
    return found


LEGACY: dict[str, Callable[[str], dict[str, float]]] = {
    "pipeline": _legacy_pipeline,
    "render": _legacy_render,
    "ingest": _legacy_ingest,
}


def _value(argv: list[str], name: str) -> str | None:
    if name not in argv or argv.index(name) + 1 >= len(argv):
        return None
    return argv[argv.index(name) + 1]


def _without(argv: list[str], *options: str) -> list[str]:
    """``argv`` without each option and its value."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        else:
            kept.append(arg)
    return kept


def _git(*args: str, root: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AgainstError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def checked_out(commit: str, root: Path = ROOT) -> Iterator[Path]:
    """A temporary ``git worktree`` of ``commit``, gone afterwards, whatever happened inside.

    The worktree's folder is temporary: were only the folder deleted, git would keep a stale
    worktree entry pointing at it. So the worktree is removed through git, then stale entries
    are pruned (also when the add itself failed half-way), and a SIGTERM (a timeout, a CI
    cancel) unwinds through here like Ctrl-C does instead of ending the process on the spot.
    """
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _terminated)
    scratch = Path(tempfile.mkdtemp(prefix="forewarn-against-"))
    tree = scratch / commit
    try:
        _git("worktree", "add", "--detach", str(tree), commit, root=root)
        yield tree
    finally:
        # Not added, or its folder gone already: the prune below clears the entry then.
        with suppress(AgainstError):
            _git("worktree", "remove", "--force", str(tree), root=root)
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            _git("worktree", "prune", root=root)
        finally:
            signal.signal(signal.SIGTERM, previous)


def _run(bench: str, tree: Path, args: list[str]) -> dict[str, float]:
    environ = {**os.environ, "PYTHONPATH": str(tree)}
    environ.pop("FOREWARN_PROJECT_ROOT", None)
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{bench}", *args],
        cwd=tree,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    figures = parse(done.stdout) or LEGACY[bench](done.stdout)
    if done.returncode != 0 or not figures:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise AgainstError(f"bench {bench} in {tree.name} failed ({done.returncode}):\n{tail}")
    return figures


def run_against(bench: str, argv: list[str]) -> int:
    revision = _value(argv, "--against")
    if revision is None:
        print("--against needs a git revision", file=sys.stderr)
        return 2
    rounds = int(_value(argv, "--rounds") or (2 if "--quick" in argv else 3))
    args = _without(argv, "--against", "--rounds")
    commit = _git("rev-parse", "--short", f"{revision}^{{commit}}")
    here = _git("rev-parse", "--short", "HEAD")
    dirty = (
        " + uncommitted changes" if _git("status", "--porcelain", "--untracked-files=no") else ""
    )
    try:
        with checked_out(commit) as old_tree:
            if (ROOT / "node_modules").is_dir() and not (old_tree / "node_modules").exists():
                (old_tree / "node_modules").symlink_to(ROOT / "node_modules")
            sides = {"old": old_tree, "new": ROOT}
            seen: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
            for round_ in range(rounds):
                order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
                for side in order:
                    figures = _run(bench, sides[side], args)
                    seen[side].append(figures)
                    label = commit if side == "old" else "working tree"
                    print(f"round {round_ + 1}/{rounds}: {label} done", flush=True)
    except AgainstError as error:
        print(error, file=sys.stderr)
        return 1
    common = [name for name in seen["new"][0] if all(name in run for run in seen["old"])]
    print(
        f"\nbench {bench}: working tree ({here}{dirty}) against {commit}, {rounds} rounds "
        "alternately; medians over the rounds; ratio = working tree / revision"
    )
    print(f"  {'figure':40} {commit:>12} {'working tree':>14} {'ratio':>8}")
    for name in common:
        old = median([run[name] for run in seen["old"]])
        new = median([run[name] for run in seen["new"]])
        ratio = f"{new / old:8.2f}" if old else "       -"
        print(f"  {name:40} {old:12.3f} {new:14.3f} {ratio}")
    only_new = [name for name in seen["new"][0] if name not in common]
    for name in only_new:  # figures the revision's benchmark does not print: shown, not compared
        new = median([run[name] for run in seen["new"] if name in run])
        print(f"  {name:40} {'-':>12} {new:14.3f} {'-':>8}")
    return 0
