"""The board page in headless Chromium, at a phone's 375 px and a desktop's 1280 px.

GIVEN the page ``GET /api/waves/{id}`` draws for the wave of tests/unit/test_board_page.py
(three VMs: one to start yourself, claimed and snoozed, with a plan step at its quietest hour;
one left to Azure; one done), and the same wave with the longest names Azure allows,
WHEN Chromium lays it out (no network: the page fetches nothing and runs no script),
THEN at 375 px nothing is wider than the screen, each table row is a card whose text is at
least 14 px, the timeline fits the width; at 1280 px the table is a table; and both
screenshots are drawn (not blank).
"""

from __future__ import annotations

import re
from dataclasses import replace
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shared.render.board import board_html
from shared.render.text import ReaderClock
from shared.wave.board import Board
from tests.integration.test_preview_browser import CHROMIUM, _png_pixels, chromium
from tests.unit.test_board_page import board
from tests.unit.test_wave_board import NOW

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PHONE, DESKTOP = 375, 1280
CLOCK = ReaderClock(ZoneInfo("Europe/Berlin"), "en", NOW)


def long_names() -> Board:
    """Azure allows 64 characters in a VM name and 90 in a resource group."""
    given = board()
    vms = tuple(
        replace(vm, name=(vm.name + "x" * 64)[:64], resource_group="rg-" + "y" * 87)
        for vm in given.vms
    )
    return replace(given, vms=vms)


# The page is laid out in a frame of the width asked for (Chromium keeps a window at least
# 500 px wide); the wrapper's script (the page itself has none) writes what it measured.
_WRAPPER = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" style="width:{width}px;height:1200px;border:0" srcdoc="{page}"></iframe>
<script>window.addEventListener('load', function () {{
  var d = document.getElementById('f').contentDocument, w = d.defaultView;
  var cells = Array.prototype.slice.call(d.querySelectorAll('td'));
  var sizes = cells.map(function (c) {{ return parseFloat(w.getComputedStyle(c).fontSize); }});
  var row = d.querySelector('tbody tr');
  document.body.setAttribute('data-measured', [
    d.documentElement.scrollWidth,
    Math.min.apply(null, sizes),
    w.getComputedStyle(row).display,
    Math.round(d.querySelector('svg.timeline').getBoundingClientRect().width),
    cells.length
  ].join(' '));
}});</script></body></html>"""
_MEASURED = re.compile(r'data-measured="(\d+) ([\d.]+) ([a-z-]+) (\d+) (\d+)"')


def measured(page: str, folder: Path, width: int) -> tuple[int, float, str, int, int]:
    """(document width, smallest cell font size, a row's display, timeline width, cells)."""
    wrapper = folder / f"measured-{width}.html"
    wrapper.write_text(_WRAPPER.format(width=width, page=escape(page, quote=True)), "utf-8")
    result = chromium(wrapper, folder / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    found = _MEASURED.search(result.stdout)
    assert found, result.stdout[-2000:]
    scroll, font, display, timeline, cells = found.groups()
    return int(scroll), float(font), display, int(timeline), int(cells)


@pytest.fixture(scope="module", autouse=True)
def _chromium_is_there() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (`make browser` installs it; make test runs it)")


LAYOUTS = [
    # GIVEN the board        at width   THEN a row is shown as
    ("three VMs", board, PHONE, "block"),
    ("longest names", long_names, PHONE, "block"),
    ("three VMs", board, DESKTOP, "table-row"),
]


@pytest.mark.parametrize(
    ("made", "width", "display"), [c[1:] for c in LAYOUTS], ids=[f"{c[0]}-{c[2]}" for c in LAYOUTS]
)
def test_the_board_fits_the_screen_and_its_table_is_readable(
    tmp_path: Path, made: object, width: int, display: str
) -> None:
    assert callable(made)
    page = board_html(made(), CLOCK)
    scroll, font, shown, timeline, cells = measured(page, tmp_path, width)
    assert scroll <= width, f"{scroll} px wide in a {width} px screen"
    assert font >= 14, f"table text of {font} px"
    assert shown == display
    assert 0 < timeline <= width
    assert cells == 3 * 10  # every column of every VM


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
def test_the_screenshot_is_drawn(tmp_path: Path, width: int) -> None:
    page = tmp_path / "board.html"
    page.write_text(board_html(board(), CLOCK), encoding="utf-8")
    shot = tmp_path / f"board-{width}.png"
    result = chromium(
        page, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={width},1400"
    )
    assert shot.exists(), result.stderr[-2000:]
    drawn_width, height, colours = _png_pixels(shot)
    assert (drawn_width, height) == (width, 1400)
    # A blank or error page has a handful of colours; text, bars and marks have many.
    assert len(colours) > 50, len(colours)
