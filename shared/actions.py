"""``/api/actions/{token}``: what a signed action link does (shared/wave/actions.py).

    GET    verify the link, show what it will do, ask to confirm (a form that POSTs)
    POST   verify again, mark the link used (once, atomically), then do it

A GET never changes anything: mail gateways and chat previews fetch links to scan them. A
tampered, expired or already used link gets a page that says so, and nothing changes.

A ``start`` link (Start from the message, shared/start/) is checked by the ``StartDesk`` on the
GET (the page says exactly what would happen to which VMs, or why it may not) and again on the
POST, with the person from the sign-in in front of the page (shared/start/principal.py), never
from the form. Every page view, confirmation, refusal and outcome is an audit row; so is a
forged or replayed link. The key
is ``FOREWARN_ACTION_LINK_KEY`` (a Key Vault reference in Azure); without one every link answers
503 and says that links are not set up.

Pages carry no-store, no-referrer (the token is in the URL) and a content security policy
that allows no script.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs

from shared import names
from shared.parsing.resource_id import parse_vm_id
from shared.render.text import ReaderClock, say_moments, zone_or_utc
from shared.start.audit import NO_WAVE, AuditRow, AuditTrail
from shared.start.desk import StartCheck, StartDesk, StartOutcome, StartRequest, names_of
from shared.start.principal import signed_in_person
from shared.storage import EntityTable, StorageError, StorageServices
from shared.telemetry import get_logger
from shared.timeutil import format_utc, parse_utc, utc_now
from shared.wave.actions import (
    MIN_KEY_CHARS,
    ActionLink,
    ActionLinkError,
    ActionLinkExpiredError,
    ActionLinkTamperedError,
    used_key,
    verify,
)
from shared.wave.claims import ClaimError, ClaimStore, OnClaimed

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
    items: tuple[str, ...] = ()  # a list under the text (a Start link's VMs)
    ask_name: bool = True  # a Start's person comes from the sign-in, never from the form

    def html(self) -> str:
        name = (
            '<label>Your name <input name="by" required maxlength="80" '
            'autocomplete="name"></label> '
            if self.ask_name
            else ""
        )
        form = (
            f'<form method="post">{name}<button type="submit">Confirm</button></form>'
            if self.form
            else ""
        )
        items = (
            "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in self.items) + "</ul>"
            if self.items
            else ""
        )
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>forewarn: {html.escape(self.title)}</title>"
            "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;"
            "padding:0 1rem}input,button{font:inherit;padding:.4rem}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1><p>{html.escape(self.text)}</p>{items}{form}"
            "</body></html>"
        )


class ActionService:
    """Links checked with ``key``; used marks and claims kept in two tables."""

    def __init__(
        self,
        key: str | None,
        used: EntityTable,
        claims: ClaimStore,
        start: StartDesk | None = None,
        sign_in_trusted: bool = False,
        zone_of: Callable[[str], str] | None = None,
        on_claimed: OnClaimed | None = None,
    ) -> None:
        self._key = key if key and len(key) >= MIN_KEY_CHARS else None
        self._used = used
        self._claims = claims
        self._start = start
        self._sign_in_trusted = sign_in_trusted
        # A receiver's time zone (the routing file's), for the moments a page states.
        self._zone_of = zone_of or (lambda receiver: "UTC")
        # The escalation a claim ends, resolved at once (WaveRunner.resolve_claimed).
        self._on_claimed = on_claimed

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> ActionService:
        from shared.start.principal import sign_in_trusted
        from shared.wave.runner import resolve_claimed_now

        storage = StorageServices.from_settings(environ)
        return cls(
            environ.get(names.SETTING_ACTION_LINK_KEY),
            storage.table(names.TABLE_ACTIONS_USED),
            ClaimStore(storage.table(names.TABLE_CLAIMS)),
            start_desk(environ, storage),
            sign_in_trusted(environ),
            receiver_zones(environ),
            on_claimed=lambda now, vm, wave: resolve_claimed_now(
                environ, storage, now, vm_id=vm, wave=wave
            ),
        )

    def handle(
        self,
        method: str,
        token: str,
        body: bytes,
        now: datetime | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ActionPage:
        now = now or utc_now()
        if self._key is None:
            return ActionPage(503, "Links are not set up", "This forewarn has no action link key.")
        try:
            link = verify(token, self._key, now)
        except ActionLinkExpiredError:
            return ActionPage(410, "This link has expired", "Nothing was changed. " + _CLI)
        except ActionLinkTamperedError:
            self._audit_forged(token, "tampered", now)
            return ActionPage(403, "This link is not valid", "It was changed or not made here.")
        except ActionLinkError:
            return ActionPage(400, "This is not an action link", "Nothing was changed.")
        if link.action == "start":
            try:
                return self._start_page(method, link, token, headers or {}, now)
            except StorageError as error:
                log.warning("start link: storage unavailable: %s", error)
                return ActionPage(503, "Try again shortly", "forewarn's storage did not answer.")
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
        if self._on_claimed is not None:
            self._on_claimed(now, claim.key, None)
        name = _vm_name(link.subject)
        return ActionPage(
            200,
            "Claimed",
            f"{name}: claimed by {claim.by}. Its reminders now go to {link.receiver} only.",
        )

    # -- Start from the message ------------------------------------------------------------

    def _audit_forged(self, token: str, why: str, now: datetime) -> None:
        """A link whose signature fails: a row (no wave is known), so attempts are seen."""
        if self._start is None:
            return
        try:
            self._start.audit.write(
                AuditRow(
                    NO_WAVE,
                    "refused",
                    format_utc(now),
                    "",
                    "unknown",
                    "",
                    (),
                    "",
                    why,
                    "the link's signature does not match",
                    link=used_key(token),
                )
            )
        except StorageError as error:
            log.warning("action audit: storage unavailable: %s", error)

    def _start_page(
        self,
        method: str,
        link: ActionLink,
        token: str,
        headers: Mapping[str, str],
        now: datetime,
    ) -> ActionPage:
        desk = self._start
        if desk is None:
            return ActionPage(503, "Start is not set up", "This forewarn cannot start maintenance.")
        person = signed_in_person(headers, self._sign_in_trusted)
        request = StartRequest(
            link.wave, link.subject, link.vms, link.receiver, person, used_key(token), "link"
        )
        items = tuple(names_of([vm]) for vm in link.vms)
        if self._used.get(USED_PARTITION, request.link) is not None:
            desk.record(request, "refused", now, "replayed", "the link was already used")
            return ActionPage(
                410,
                "This link was already used",
                f"Start of {link.subject} ({names_of(link.vms)}): done before. "
                "Nothing was changed.",
            )
        clock = ReaderClock(zone_or_utc(self._zone_of(link.receiver)), "en", now)
        if method.upper() != "POST":
            check = desk.check(request, now)
            desk.viewed(request, check, now)
            return confirm_page(check, link, items, clock)
        mark = {"action": "start", "subject": link.subject, "by": person, "at": format_utc(now)}
        if not self._used.insert_if_absent(USED_PARTITION, request.link, mark):
            desk.record(request, "refused", now, "replayed", "the link was already used")
            return ActionPage(
                410, "This link was already used", f"Start of {link.subject}: done before."
            )
        try:
            outcome = desk.start(request, now)
        except BaseException:
            self._used.delete(USED_PARTITION, request.link)  # nothing known started: retryable
            raise
        if outcome.result in ("refused", "not_started"):
            self._used.delete(USED_PARTITION, request.link)  # nothing started: may be tried again
        return _outcome_page(outcome, items, clock)


def receiver_zones(environ: Mapping[str, str]) -> Callable[[str], str]:
    """A receiver's time zone as the routing file says it; UTC when it cannot be read."""
    from shared.routing.config import ConfigCache, RoutingConfigError, config_path

    configs = ConfigCache()

    def zone_of(receiver: str) -> str:
        try:
            found = configs.get(config_path(environ)).receivers.get(receiver)
        except RoutingConfigError:
            return "UTC"
        return found.timezone if found is not None else "UTC"

    return zone_of


def start_desk(environ: Mapping[str, str], storage: StorageServices) -> StartDesk:
    """The ``StartDesk`` the settings describe: off unless FOREWARN_ENABLE_START_FROM_MESSAGE,
    each person checked against the routing file's allow-lists as the file is now."""
    from shared.enrich.services import EnrichmentServices
    from shared.routing.config import ConfigCache, RoutingConfigError, config_path
    from shared.start.notice import outcome_event
    from shared.storage import Envelope
    from shared.wave.actions import start_enabled
    from shared.wave.records import TableRecordStore

    configs = ConfigCache()

    def notify(request: StartRequest, outcome: StartOutcome, now: datetime) -> None:
        """Tell the wave's receivers through the enrich stage, as a started maintenance."""
        event = outcome_event(request, outcome, now)
        if event is not None:
            storage.courier.send(
                names.QUEUE_EVENTS, Envelope("event", event.event_id, event.to_json())
            )

    def may_start(receiver: str, person: str) -> bool:
        try:
            config = configs.get(config_path(environ))
        except RoutingConfigError as error:  # no file, no list: nobody may start
            log.warning("start: the routing file cannot be read: %s", error)
            return False
        return config.may_start(receiver, person)

    return StartDesk(
        EnrichmentServices.from_settings(environ, storage),
        AuditTrail(storage.table(names.TABLE_ACTION_AUDIT)),
        enabled=start_enabled(environ),
        may_start=may_start,
        records=TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS)),
        notify=notify,
    )


_REFUSAL_STATUS = {"feature_off": 403, "not_signed_in": 401, "not_on_list": 403}
_OUTCOME_PAGE = {
    "Succeeded": (200, "Maintenance completed"),
    "Failed": (502, "Maintenance did not complete"),
    "still_running": (202, "Maintenance under way"),
    "not_started": (503, "Maintenance was not started"),
}


def confirm_page(
    check: StartCheck, link: ActionLink, items: tuple[str, ...], clock: ReaderClock
) -> ActionPage:
    """The page a Start link opens: confirm, or why not. ``clock``: the link's receiver's, so
    that the window's end reads as in the message the link came in."""
    if check.ok:
        return ActionPage(
            200,
            "Confirm: start maintenance",
            f"{say_moments(check.reason, clock, utc_beside=True)} Nothing happens until you "
            "confirm.",
            form=True,
            items=tuple(
                f"{vm.name}: self-service window ends "
                + (clock.moment(parse_utc(vm.window_end)) if vm.window_end else "unknown")
                for vm in check.vms
            ),
            ask_name=False,
        )
    # The desk writes its reasons with ISO 8601 moments, for the audit; people read them here.
    reason = say_moments(check.reason, clock, utc_beside=True)
    return ActionPage(
        _REFUSAL_STATUS.get(check.code, 409),
        "Start not possible now",
        f"Start of {link.subject} ({names_of(link.vms)}): {reason} Nothing was changed.",
        items=items,
        ask_name=False,
    )


def _outcome_page(outcome: StartOutcome, items: tuple[str, ...], clock: ReaderClock) -> ActionPage:
    text = say_moments(outcome.text, clock, utc_beside=True)
    if outcome.result == "refused":
        status = _REFUSAL_STATUS.get(outcome.code, 409)
        return ActionPage(status, "Start not possible now", f"{text} Nothing was changed.")
    status, title = _OUTCOME_PAGE[outcome.result]
    return ActionPage(status, title, text, items=items, ask_name=False)


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
