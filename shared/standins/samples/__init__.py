"""Real Microsoft samples (and forewarn's envelopes around them) that the stand-ins serve.

They are copies of the files of the same names under the repository's tests/fixtures/, where
the tests read them; tests/unit/test_standin_samples.py keeps the two equal. SOURCES.md in each
folder says where every sample comes from.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@cache
def _load(folder: str, name: str) -> Any:
    return json.loads((HERE / folder / name).read_text(encoding="utf-8"))


def azure_sample(name: str) -> Any:
    """A Microsoft sample from ``samples/azure``: a fresh copy each call, the caller's to change."""
    return copy.deepcopy(_load("azure", name))


def forewarn_sample(name: str) -> Any:
    """One of forewarn's envelopes around a Microsoft sample, from ``samples/forewarn``."""
    return copy.deepcopy(_load("forewarn", name))
