"""The samples the stand-ins serve are the tests' fixtures, byte for byte.

GIVEN each JSON file under shared/standins/samples/<folder>
THEN  tests/fixtures/<folder> holds a file of the same name with the same bytes
(the package carries its own copies so that an installed forewarn needs no checkout).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "shared" / "standins" / "samples"
COPIES = sorted(PACKAGED.glob("*/*.json"))


def test_the_stand_ins_carry_samples() -> None:
    assert {path.parent.name for path in COPIES} == {"azure", "forewarn"}


@pytest.mark.parametrize("copy", COPIES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_each_packaged_sample_equals_the_fixture(copy: Path) -> None:
    original = ROOT / "tests" / "fixtures" / copy.parent.name / copy.name
    assert original.read_bytes() == copy.read_bytes()
