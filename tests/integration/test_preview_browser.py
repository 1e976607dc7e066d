"""The preview page, opened in headless Chromium: every channel's section renders.

GIVEN the page ``forewarn render --html`` writes for the real sample event and the example
routing file, WHEN Chromium loads it (no network: the page fetches nothing), THEN the DOM holds
a section per channel with its content, and the screenshot is not blank.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from shared.cli import main
from tests.support.enriched_samples import NOW, sample_enriched

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
    assert '"version": "1"' in dom  # the webhook document


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


def test_the_screenshot_is_not_blank(preview: Path, tmp_path: Path) -> None:
    shot = tmp_path / "preview.png"
    result = chromium(
        preview, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,1600"
    )
    assert shot.exists(), result.stderr[-2000:]
    width, height, colours = _png_pixels(shot)
    assert (width, height) == (1400, 1600)
    # A blank or error page has a handful of colours; drawn text, buttons and cards have many.
    assert len(colours) > 50, len(colours)
