"""The preview page, opened in headless Chromium: every channel's section renders.

GIVEN the page ``forewarn render --html`` writes for the real sample event and the example
routing file, WHEN Chromium loads it (no network: the page fetches nothing), THEN the DOM holds
a section per channel with its content (the new layout: the lead first, the Slack details
reply, the Teams Details card), and the screenshots, at desktop and at phone width, are not
blank. The email's HTML part, as sent, is laid out at 375 px without horizontal scrolling.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from html import escape
from pathlib import Path

import pytest

from shared.cli import main
from shared.standins.enriched_samples import NOW, sample_enriched

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


@pytest.fixture(scope="module")
def preview(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (`make browser` installs it; make test runs it)")
    folder = tmp_path_factory.mktemp("preview")
    event = folder / "enriched.json"
    event.write_text(json.dumps(sample_enriched().to_json()), encoding="utf-8")
    page = folder / "preview.html"
    code = main(
        [
            "render",
            "--event",
            str(event),
            "--config",
            str(EXAMPLE),
            "--channel",
            "slack",
            "--now",
            NOW.isoformat(),
            "--html",
            str(page),
        ]
    )
    assert code == 0 and page.exists()
    return page


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_every_channel_is_drawn_in_the_dom(preview: Path, tmp_path: Path) -> None:
    result = chromium(preview, tmp_path / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    for channel in ("email", "sms", "slack", "teams", "webhook"):
        assert f'id="channel-{channel}"' in dom, channel
    assert "srcdoc=" in dom and "Azure reboots" in dom  # the email HTML part, as sent
    assert 'class="sl-header"' in dom and 'class="tm-card"' in dom  # Slack blocks, Teams card
    assert "1 segment · GSM-7" in dom  # the SMS bubble with its count
    assert '"version": "2"' in dom  # the webhook document
    # The new layout: the lead first; the Slack reply as a thread; Teams' Details card
    assert "Start 1 VM yourself by" in dom
    assert 'class="sl-replies">1 reply' in dom and 'class="sl-thread"' in dom
    assert '<details class="tm-show"><summary class="tm-action">Details</summary>' in dom


def _png_pixels(path: Path) -> tuple[int, int, set[bytes]]:
    """Decode an 8-bit RGB(A) PNG far enough to sample its colours (no image library needed)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, [], b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        offset += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    channels = 4 if colour == 6 else 3
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    colours: set[bytes] = set()
    previous = bytearray(stride)
    position = 0
    for _row in range(height):
        kind, line = raw[position], bytearray(raw[position + 1 : position + 1 + stride])
        position += 1 + stride
        for i in range(stride):  # undo PNG filters (None, Sub, Up, Average, Paeth)
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                best = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[i] = (line[i] + best) & 0xFF
        previous = line
        if _row % 25 == 0:
            colours.update(bytes(line[i : i + 3]) for i in range(0, stride, channels * 7))
    return width, height, colours


@pytest.mark.parametrize(
    ("window", "size"),
    [("desktop", (1400, 1600)), ("phone-width", (375, 2400))],
)
def test_the_screenshot_is_not_blank(
    preview: Path, tmp_path: Path, window: str, size: tuple[int, int]
) -> None:
    shot = tmp_path / f"preview-{window}.png"
    result = chromium(
        preview, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={size[0]},{size[1]}"
    )
    assert shot.exists(), result.stderr[-2000:]
    width, height, colours = _png_pixels(shot)
    assert (width, height) == size
    # A blank or error page has a handful of colours; drawn text, buttons and cards have many.
    assert len(colours) > 50, len(colours)


# Chromium keeps a window at least 500 px wide, so the page is laid out in a 375 px iframe of a
# wrapper page; the wrapper's script (the email itself has none) writes how wide the email's
# document is once everything has loaded, and --dump-dom prints the DOM after it ran.
_WRAPPER = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="phone" style="width:{viewport}px;height:900px;border:0" srcdoc="{page}"></iframe>
<script>window.addEventListener('load', function () {{
  var inner = document.getElementById('phone').contentDocument.documentElement;
  document.body.setAttribute('data-scroll-width', String(inner.scrollWidth));
}});</script></body></html>"""
_WIDTH = re.compile(r'data-scroll-width="(\d+)"')


def laid_out_width(html: str, folder: Path, viewport: int) -> int:
    """How wide Chromium lays ``html`` out in a ``viewport``-pixel-wide frame."""
    page = folder / "measured.html"
    page.write_text(
        _WRAPPER.format(viewport=viewport, page=escape(html, quote=True)), encoding="utf-8"
    )
    result = chromium(page, folder / "profile", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    found = _WIDTH.search(result.stdout)
    assert found, result.stdout[-2000:]
    return int(found.group(1))


PHONE = 375
WIDE_CONTROL = '<html><body style="margin:0"><div style="width:600px">wide</div></body></html>'


@pytest.mark.parametrize(
    ("name", "html", "fits"),
    [
        pytest.param("email", lambda: _email_html(), True, id="email-as-sent"),
        pytest.param(
            "long names", lambda: _email_html(long_names=True), True, id="64-character-names"
        ),
        pytest.param("control", lambda: WIDE_CONTROL, False, id="a-600px-page-does-not-fit"),
    ],
)
def test_the_email_reads_at_375_px_without_horizontal_scrolling(
    tmp_path: Path, name: str, html: object, fits: bool
) -> None:
    # GIVEN the email's HTML part as sent (the control shows the measurement can fail)
    assert callable(html)
    width = laid_out_width(html(), tmp_path, PHONE)
    # THEN nothing is laid out wider than the phone's screen
    assert (width <= PHONE) is fits, (name, width)


def _email_html(*, long_names: bool = False) -> str:
    from dataclasses import replace

    from shared.models import Receiver
    from shared.render import render_message

    enriched = sample_enriched()
    if long_names:  # Azure allows 64 characters in a VM name and 90 in a resource group
        vms = [
            replace(vm, name=(vm.name + "x" * 64)[:64], resource_group="rg-" + "y" * 87)
            for vm in enriched.vms
        ]
        enriched = replace(enriched, vms=vms)
    receiver = Receiver(name="ops", type="email", targets=[], timezone="Europe/Berlin")
    return render_message(enriched, receiver, enriched.vms, NOW).html or ""
