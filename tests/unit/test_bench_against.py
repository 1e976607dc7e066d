"""``bench --against`` leaves no git worktree behind, whatever happens while it runs.

A temporary git repository of one commit stands in for the project; each row runs a body
inside ``checked_out`` and then reads ``git worktree list``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.against import AgainstError, checked_out


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "a.txt").write_text("a\n", encoding="utf-8")
    _git(root, "add", "a.txt")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "one")
    return root


def _ok(tree: Path) -> None:
    (tree / "untracked.txt").write_text("left by a benchmark\n", encoding="utf-8")


def _fails(tree: Path) -> None:
    raise AgainstError("the revision's benchmark failed")


def _folder_gone(tree: Path) -> None:
    shutil.rmtree(tree.parent)


def _terminated(tree: Path) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


# GIVEN a body that ... | THEN it ends with
CASES: list[tuple[str, Callable[[Path], None], type[BaseException] | None]] = [
    ("finishes, leaving an untracked file", _ok, None),
    ("raises", _fails, AgainstError),
    ("deletes the temporary folder itself", _folder_gone, None),
    ("gets SIGTERM", _terminated, SystemExit),
]


@pytest.mark.parametrize(
    ("body", "raises"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_no_worktree_entry_or_folder_remains(
    repo: Path, body: Callable[[Path], None], raises: type[BaseException] | None
) -> None:
    commit = _git(repo, "rev-parse", "--short", "HEAD").strip()
    seen: list[Path] = []
    handler_before = signal.getsignal(signal.SIGTERM)

    def run() -> None:
        with checked_out(commit, root=repo) as tree:
            seen.append(tree)
            assert (tree / "a.txt").read_text(encoding="utf-8") == "a\n"
            body(tree)

    if raises is None:
        run()
    else:
        with pytest.raises(raises):
            run()

    listing = _git(repo, "worktree", "list", "--porcelain").splitlines()
    assert [line for line in listing if line.startswith("worktree ")] == [f"worktree {repo}"]
    assert not seen[0].exists()
    assert signal.getsignal(signal.SIGTERM) == handler_before


def test_a_stale_entry_from_an_earlier_killed_run_is_pruned(repo: Path, tmp_path: Path) -> None:
    commit = _git(repo, "rev-parse", "--short", "HEAD").strip()
    stale = tmp_path / "killed-run" / commit
    _git(repo, "worktree", "add", "--detach", str(stale), commit)
    shutil.rmtree(stale.parent)  # what a killed run left: an entry whose folder is gone

    with checked_out(commit, root=repo):
        pass

    assert "killed-run" not in _git(repo, "worktree", "list", "--porcelain")
