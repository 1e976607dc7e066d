"""The import contract `make lint` checks: the layers of docs/architecture.md, no circles.

GIVEN the checkout as it is
THEN  the contract is kept (python -m tests.support.layers exits 0)

GIVEN a temporary copy of shared/, functions/ and docs/architecture.md
WHEN  one change is made to it
THEN  the contract is broken, and its line names the change:

| change                                                   | breach named                      |
|----------------------------------------------------------|-----------------------------------|
| render/text.py imports render/facts.py (facts uses text) | import circle                     |
| models.py imports the route stage                        | an import up the layers           |
| parsing/errors.py imports a renderer, lazily in a def    | an import up the layers           |
| the route stage imports the delivery stage               | they are to be independent        |
| a new module at the top of shared/ named in no layer     | in no layer                       |
| the section "## Layers" is gone from the doc             | no '## Layers' section            |
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import layers

ROOT = Path(__file__).resolve().parents[2]


def test_the_checkout_keeps_the_contract() -> None:
    assert layers.breaches(ROOT) == []


def test_the_doc_names_every_layer_of_the_design() -> None:
    contract = layers.read_contract(ROOT / layers.DOC)
    assert [name.split(":")[0] for name, _ in contract.layers] == [
        "command line",
        "stand-ins",
        "Azure adapters and the local host",
        "stages",
        "domain",
        "domain",
        "bottom",
    ]
    assert len(contract.independent) == 3


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for package in layers.PACKAGES:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    (tmp_path / "docs").mkdir()
    shutil.copy2(ROOT / layers.DOC, tmp_path / layers.DOC)
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text + "\n", encoding="utf-8")


def _checked(root: Path) -> tuple[int, str]:
    # As `make lint` runs it.
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.layers", "--root", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stderr


CHANGES = [
    ("shared/render/text.py", "import shared.render.facts", "import circle: "),
    ("shared/models.py", "from shared.routing import stage", "an import up the layers"),
    (
        "shared/parsing/errors.py",
        "def _later() -> None:\n    from shared.render.email import render  # noqa",
        "shared.parsing.errors (bottom",
    ),
    (
        "shared/routing/stage.py",
        "from shared.delivery.stage import DeliveryStage",
        "shared.routing.stage reaches shared.delivery.stage",
    ),
    ("shared/newcomer.py", "X = 1", "shared.newcomer: in no layer"),
]


@pytest.mark.parametrize(("file", "line", "named"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_breach_fails_the_check(copy: Path, file: str, line: str, named: str) -> None:
    target = copy / file
    if target.exists():
        _append(target, line)
    else:
        target.write_text(line + "\n", encoding="utf-8")
    assert layers.breaches(copy) != []
    code, said = _checked(copy)
    assert code == 1
    assert named in said


def test_without_the_table_the_check_fails(copy: Path) -> None:
    doc = copy / layers.DOC
    doc.write_text(doc.read_text(encoding="utf-8").replace("## Layers", "## Strata"), "utf-8")
    code, said = _checked(copy)
    assert code == 1
    assert "no '## Layers' section" in said


def test_a_circle_through_many_modules_is_one_breach() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert layers.circles(graph) == [["a", "b", "c"]]
