"""What importing ``function_app`` pulls into every worker's start (issue 18).

An Azure Functions worker imports ``function_app`` before its first invocation, whatever the
trigger, so what only a timer needs is imported when that timer first runs.

    GIVEN a fresh interpreter   WHEN function_app is imported
    THEN none of these is imported: the wave's runner, sweep and reminders (the sweep and
         reminder timers), the Log Analytics catch-up (its timer), Jinja2 and Twilio (the
         warm-up, which the first enriched notice starts: shared/warmup.py)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_IMPORTED = (
    "shared.wave.runner",
    "shared.wave.sweep",
    "shared.wave.reminders",
    "shared.loganalytics.catchup",
    "jinja2",
    "twilio",
)


def test_the_app_imports_no_timer_only_module() -> None:
    code = (
        "import json, sys, function_app\n"
        f"print(json.dumps([m for m in {list(NOT_IMPORTED)!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []
