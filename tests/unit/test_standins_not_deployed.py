"""The Function App runs without the stand-ins, which .funcignore leaves out of the deployment.

GIVEN a fresh interpreter
WHEN  it imports function_app, as the Functions host does
THEN  no module of shared.standins, shared.cli or aiosmtpd (the stand-ins' extra) is loaded
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_DEPLOYED = ("shared.standins", "shared.cli", "aiosmtpd", "tests")
PROBE = (
    "import sys, function_app\n"
    f"print('\\n'.join(m for m in sys.modules if m.startswith({NOT_DEPLOYED!r})))"
)


def test_function_app_imports_no_stand_in() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []


def test_funcignore_leaves_the_stand_ins_out() -> None:
    lines = (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    assert "shared/standins/" in lines
    assert "tests/" in lines
