"""``forewarn demo``, at the end: the board of the demo's wave, as text and as the page.

It reads the wave the demo followed from the records, prints it as ``forewarn wave show``
does, fetches ``GET /api/waves/{tracking_id}`` from the hosted app with the stack's board read
key, and writes the page beside the preview (``demo-output/board.html``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests

from shared import names
from shared.cli.wave_command import board_lines
from shared.render.text import ReaderClock
from shared.standins.local_stack import BOARD_READ_KEY
from shared.storage import StorageServices
from shared.timeutil import utc_now
from shared.wave.board import build_board, list_waves
from shared.wave.claims import ClaimStore
from shared.wave.records import TableRecordStore

ZONE = "Europe/Amsterdam"  # the demo's receivers read this zone


def board_and_show(stack: Any, out: Path) -> Path | None:
    """Print the demo wave's board; write its page to ``out``; ``None`` when the page failed."""
    storage = StorageServices.from_settings(os.environ)
    records = list(TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS)).all())
    ownership = ClaimStore(storage.table(names.TABLE_CLAIMS)).ownership()
    now = utc_now()
    waves = [wave for wave in list_waves(records, ownership, now) if wave.open]
    if not waves:
        print("\n(forewarn demo: no open wave to show on the board)")
        return None
    wave = waves[0].tracking_id
    print(f"\n=== The board: forewarn wave show {wave} --timezone {ZONE} " + "=" * 4)
    board = build_board(wave, records, ownership, now)
    print("\n".join(board_lines(board, ReaderClock(ZoneInfo(ZONE), "en", now))))
    answer = requests.get(
        f"{stack.base_url}/api/waves/{quote(wave, safe='')}",
        params={"tz": ZONE},
        headers={"x-forewarn-board-key": BOARD_READ_KEY},
        timeout=30,
    )
    if answer.status_code != 200:
        print(f"forewarn demo: GET /api/waves/... answered {answer.status_code}")
        return None
    page = out / "board.html"
    page.write_text(answer.text, encoding="utf-8")
    return page
