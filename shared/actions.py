"""``/api/actions/{token}``: what a signed action link does (shared/wave/actions.py).

    GET    verify the link, show what it will do, ask to confirm (a form that POSTs)
    POST   verify again, mark the link used (once, atomically), then do it

A GET never changes anything: mail gateways and chat previews fetch links to scan them. A
tampered, expired or already used link gets a page that says so, and nothing changes. The key
is ``FOREWARN_ACTION_LINK_KEY`` (a Key Vault reference in Azure); without one every link answers
503 and says that links are not set up.

Pages carry no-store, no-referrer (the token is in the URL) and a content security policy
that allows no script.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs

from shared import names
from shared.parsing.resource_id import parse_vm_id
from shared.storage import EntityTable, StorageError, StorageServices
from shared.telemetry import get_logger
from shared.timeutil import format_utc, utc_now
from shared.wave.actions import (
    MIN_KEY_CHARS,
    ActionLink,
    ActionLinkError,
    ActionLinkExpiredError,
    ActionLinkTamperedError,
    used_key,
    verify,
)
from shared.wave.claims import ClaimError, ClaimStore

log = get_logger(__name__)

USED_PARTITION = "used"
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


@dataclass(frozen=True)
class ActionPage:
    status: int
    title: str
    text: str
    form: bool = False  # the confirm form (GET of a good link, or a POST without a name)
    headers: dict[str, str] = field(default_factory=lambda: dict(HEADERS))

    def html(self) -> str:
        form = (
            '<form method="post"><label>Your name <input name="by" required maxlength="80" '
            'autocomplete="name"></label> <button type="submit">Confirm</button></form>'
            if self.form
            else ""
        )
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>forewarn: {html.escape(self.title)}</title>"
            "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;"
            "padding:0 1rem}input,button{font:inherit;padding:.4rem}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1><p>{html.escape(self.text)}</p>{form}"
            "</body></html>"
        )


class ActionService:
    """Links checked with ``key``; used marks and claims kept in two tables."""

    def __init__(self, key: str | None, used: EntityTable, claims: ClaimStore) -> None:
        self._key = key if key and len(key) >= MIN_KEY_CHARS else None
        self._used = used
        self._claims = claims

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> ActionService:
        storage = StorageServices.from_settings(environ)
        return cls(
            environ.get(names.SETTING_ACTION_LINK_KEY),
            storage.table(names.TABLE_ACTIONS_USED),
            ClaimStore(storage.table(names.TABLE_CLAIMS)),
        )

    def handle(
        self, method: str, token: str, body: bytes, now: datetime | None = None
    ) -> ActionPage:
        now = now or utc_now()
        if self._key is None:
            return ActionPage(503, "Links are not set up", "This forewarn has no action link key.")
        try:
            link = verify(token, self._key, now)
        except ActionLinkExpiredError:
            return ActionPage(410, "This link has expired", "Nothing was changed. " + _CLI)
        except ActionLinkTamperedError:
            return ActionPage(403, "This link is not valid", "It was changed or not made here.")
        except ActionLinkError:
            return ActionPage(400, "This is not an action link", "Nothing was changed.")
        what = _describe(link)
        try:
            if self._used.get(USED_PARTITION, used_key(token)) is not None:
                return ActionPage(410, "This link was already used", f"{what}: done before.")
            if method.upper() != "POST":
                return ActionPage(
                    200, "Confirm", f"{what}. Nothing happens until you confirm.", True
                )
            by = " ".join(_form(body).get("by", "").split())
            if not by:
                return ActionPage(400, "Confirm", f"{what}. Say who you are, please.", form=True)
            return self._do(link, token, by, now)
        except StorageError as error:
            log.warning("action link: storage unavailable: %s", error)
            return ActionPage(503, "Try again shortly", "forewarn's storage did not answer.")

    def _do(self, link: ActionLink, token: str, by: str, now: datetime) -> ActionPage:
        row = used_key(token)
        mark = {"action": link.action, "subject": link.subject, "by": by, "at": format_utc(now)}
        if not self._used.insert_if_absent(USED_PARTITION, row, mark):
            return ActionPage(410, "This link was already used", f"{_describe(link)}: done before.")
        try:
            claim = self._claims.claim_vm(link.subject, by, link.receiver, now)
        except ClaimError as error:
            self._used.delete(USED_PARTITION, row)
            return ActionPage(400, "Not done", str(error))
        except StorageError:
            self._used.delete(USED_PARTITION, row)  # not done: the link may be tried again
            raise
        name = _vm_name(link.subject)
        return ActionPage(
            200,
            "Claimed",
            f"{name}: claimed by {claim.by}. Its reminders now go to {link.receiver} only.",
        )


_CLI = "Claim it with forewarn claim, or ask for a new message."


def _vm_name(vm_id: str) -> str:
    vm = parse_vm_id(vm_id)
    return f"{vm.name} ({vm.resource_group})" if vm is not None else vm_id


def _describe(link: ActionLink) -> str:
    until = datetime.fromtimestamp(link.expires, UTC)
    return (
        f"Claim {_vm_name(link.subject)} for {link.receiver} (link valid until {format_utc(until)})"
    )


def _form(body: bytes) -> dict[str, str]:
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {key: values[0] for key, values in fields.items() if values}
