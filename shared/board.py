"""``GET /api/waves/{tracking_id}``: the board of a wave as a page (shared/render/board.py).

Read-only, and opened by its own key, ``FOREWARN_BOARD_READ_KEY`` (a Key Vault reference in
Azure), given as the ``x-forewarn-board-key`` header or ``?key=`` (so that a bookmark works on
a phone), compared in constant time. The key opens this page only: the alerts key and the
action link key do not, and it opens nothing else.

    no key configured (unset, shorter than 16, an unresolved Key Vault reference)   503
    no key or a wrong key given                                                      401
    a zone the page cannot show (``?tz=``)                                           400
    no record of that wave                                                           404
    storage unavailable                                                              503
    the board                                                                        200

In Azure, put Entra ID sign-in (App Service authentication) in front as well:
docs/deploy.md says how, leaving the routes machines post to open.

Pages carry no-store and no-referrer (a ``?key=`` is in the URL), and a content security
policy that allows no script and no fetch: the timeline is SVG drawn here.
"""

from __future__ import annotations

import hmac
import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared import names
from shared.enrich.plan import PlanSettingError, PlanSettings
from shared.render.board import board_html
from shared.render.text import ReaderClock
from shared.start.audit import AuditTrail, board_rows
from shared.storage import StorageError, StorageServices
from shared.telemetry import get_logger
from shared.timeutil import utc_now
from shared.wave.board import WaveNotFoundError, build_board
from shared.wave.claims import ClaimStore, Ownership
from shared.wave.history import TableWaveHistory, WaveHistory
from shared.wave.records import MaintenanceRecord, RecordStore, TableRecordStore

log = get_logger(__name__)

MIN_KEY_CHARS = 16
KEY_HEADER = "x-forewarn-board-key"
KEY_PARAM = "key"
ZONE_PARAM = "tz"
_UNRESOLVED = "@microsoft.keyvault("  # the platform left the reference as it was
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


@dataclass(frozen=True)
class BoardPage:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=lambda: dict(HEADERS))


def _notice(status: int, title: str, text: str) -> BoardPage:
    return BoardPage(
        status,
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>forewarn: {html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;"
        "padding:0 1rem}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>",
    )


KEY_OK = "ok"
KEY_OFF = "off"  # unset: the board is not used, which is healthy


def key_state(environ: Mapping[str, str]) -> str:
    """The read key's state for /api/health: ok, off, or what is wrong with it (named by
    setting, never by value)."""
    setting = names.SETTING_BOARD_READ_KEY
    value = (environ.get(setting) or "").strip()
    if not value:
        return KEY_OFF
    if value.lower().startswith(_UNRESOLVED):
        return f"unresolved ({setting} is a Key Vault reference that did not resolve)"
    if len(value) < MIN_KEY_CHARS:
        return f"too short ({setting} needs {MIN_KEY_CHARS} characters or more)"
    return KEY_OK


def board_key(environ: Mapping[str, str]) -> str | None:
    """The usable read key, or ``None`` when the board is not set up."""
    if key_state(environ) != KEY_OK:
        return None
    return (environ.get(names.SETTING_BOARD_READ_KEY) or "").strip()


def key_given(params: Mapping[str, str], headers: Mapping[str, str]) -> str:
    header = next((v for k, v in headers.items() if k.lower() == KEY_HEADER), None)
    return header if header is not None else params.get(KEY_PARAM, "")


class BoardService:
    """Answers the board page from the records and the claims."""

    def __init__(
        self,
        key: str | None,
        records: RecordStore,
        claims: ClaimStore,
        plan_settings: PlanSettings | None = None,
        audit: AuditTrail | None = None,
        history: WaveHistory | None = None,
    ) -> None:
        self._key = key
        self._records = records
        self._claims = claims
        self._plan_settings = plan_settings
        self._audit = audit
        self._history = history  # VMs a later wave started afresh: this wave's rows of them

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> BoardService:
        storage = StorageServices.from_settings(environ)
        try:
            settings = PlanSettings.with_lead(environ.get(names.SETTING_PLAN_LEAD_MINUTES))
        except PlanSettingError:
            settings = None  # the enrich stage reports a bad lead time; the board uses 60 min
        return cls(
            board_key(environ),
            TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS)),
            ClaimStore(storage.table(names.TABLE_CLAIMS)),
            settings,
            AuditTrail(storage.table(names.TABLE_ACTION_AUDIT)),
            TableWaveHistory(storage.table(names.TABLE_ENDED_RECORDS)),
        )

    def handle(
        self,
        tracking_id: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        now: datetime | None = None,
    ) -> BoardPage:
        if self._key is None:
            return _notice(503, "The board is not set up", "This forewarn has no board read key.")
        given = key_given(params, headers)
        # Constant time in the key's content: a wrong key takes as long as a nearly right one.
        if not given or not hmac.compare_digest(given.encode(), self._key.encode()):
            return _notice(401, "Key needed", "This page needs the board's read key.")
        zone_name = params.get(ZONE_PARAM) or "UTC"
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            return _notice(
                400, "Unknown time zone", f"No time zone {zone_name!r}; try Europe/Berlin."
            )
        now = now or utc_now()
        try:
            records: list[MaintenanceRecord] = list(self._records.all())
            if self._history is not None:
                records += self._history.of_wave(tracking_id)
            ownership: Ownership = self._claims.ownership()
            # The audit's partition is the tracking id as the records spell it (Start links).
            wave: str = next(
                (
                    record.tracking_id
                    for record in records
                    if record.tracking_id
                    and record.tracking_id.lower() == tracking_id.strip().lower()
                ),
                tracking_id.strip(),
            )
            audit = board_rows(self._audit.rows_of(wave)) if self._audit is not None else []
        except StorageError as error:
            log.warning("board: storage unavailable: %s", error)
            return _notice(503, "Try again shortly", "forewarn's storage did not answer.")
        try:
            board = build_board(
                tracking_id,
                records,
                ownership,
                now,
                plan_settings=self._plan_settings,
                audit_rows=audit,
            )
        except WaveNotFoundError:
            return _notice(404, "No such wave", f"forewarn holds no record of wave {tracking_id}.")
        return BoardPage(200, board_html(board, ReaderClock(zone, "en", now)))
