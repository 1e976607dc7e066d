"""What importing the route stage pulls into a cold start (issue 18: it may add <= 300 ms).

The route stage renders and routes; it sends nothing itself and reads no ARM. A helper it
shared with delivery (``table_key``) once brought in the delivery stage, every channel's
retry rules and ``requests`` with it.

    GIVEN a fresh interpreter   WHEN shared.routing.stage and .config are imported
    THEN none of these is imported: the delivery stage, the channel senders, requests, the
         Azure SDKs, Jinja2 (the email templates load on first render), icalendar (the
         email sender writes the .ics), ARM, Log Analytics,
         the wave's sweep and runner
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_IMPORTED = (
    "shared.delivery",
    "shared.channels",
    "requests",
    "azure",
    "jinja2",
    "icalendar",
    "shared.enrich.arm",
    "shared.enrich.arm_tokens",
    "shared.loganalytics",
    "shared.wave.sweep",
    "shared.wave.runner",
)


def test_the_route_stage_imports_nothing_it_does_not_use() -> None:
    code = (
        "import json, sys, shared.routing.stage, shared.routing.config\n"
        f"print(json.dumps([m for m in {list(NOT_IMPORTED)!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []
