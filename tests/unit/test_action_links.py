"""Signing and checking action links (shared/wave/actions.py) and the pages that answer them
(shared/actions.py), on in-memory tables; over HTTP: tests/integration/test_action_links.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.actions import ActionService, confirm_page
from shared.render.text import ReaderClock, zone_or_utc
from shared.start.desk import StartCheck, VmNow
from shared.storage import InMemoryEntityTable, StorageUnavailableError
from shared.wave.actions import (
    ActionLink,
    ActionLinkExpiredError,
    ActionLinkMalformedError,
    ActionLinkTamperedError,
    sign,
    verify,
)
from shared.wave.claims import ClaimStore

KEY = "k" * 32
NOW = datetime(2030, 3, 28, 9, tzinfo=UTC)
VM = (
    "/subscriptions/5f2d7a5e-0d1a-4bd5-9d43-6a3c1b0e8f11/resourceGroups/rg-web"
    "/providers/Microsoft.Compute/virtualMachines/web-1"
)
LINK = ActionLink("claim", VM, "ops-email", int((NOW + timedelta(hours=1)).timestamp()))
TOKEN = sign(LINK, KEY)

VERIFY_CASES = [
    # GIVEN token                               WHEN checked at         THEN
    ("good", TOKEN, NOW, LINK),
    ("one second before expiry", TOKEN, NOW + timedelta(minutes=59, seconds=59), LINK),
    ("at expiry", TOKEN, NOW + timedelta(hours=1), ActionLinkExpiredError),
    (
        "signature changed",
        TOKEN[:-2] + ("AA" if TOKEN[-2:] != "AA" else "BB"),
        NOW,
        ActionLinkTamperedError,
    ),
    ("payload changed", "f" + TOKEN[1:], NOW, ActionLinkTamperedError),
    ("no signature", TOKEN.split(".")[0], NOW, ActionLinkMalformedError),
    ("not ascii", "é.é", NOW, ActionLinkMalformedError),
]


@pytest.mark.parametrize(
    ("token", "now", "expected"), [c[1:] for c in VERIFY_CASES], ids=[c[0] for c in VERIFY_CASES]
)
def test_verify(token: str, now: datetime, expected: object) -> None:
    if isinstance(expected, ActionLink):
        assert verify(token, KEY, now) == expected
    else:
        with pytest.raises(expected):  # type: ignore[call-overload]
            verify(token, KEY, now)


def test_another_key_does_not_open_it() -> None:
    with pytest.raises(ActionLinkTamperedError):
        verify(TOKEN, "another-key-0123456789", NOW)


@pytest.mark.parametrize("key", [None, "", "too-short"])
def test_without_a_usable_key_every_link_says_links_are_not_set_up(key: str | None) -> None:
    service = ActionService(key, InMemoryEntityTable(), ClaimStore(InMemoryEntityTable()))
    page = service.handle("POST", TOKEN, b"by=Alice", NOW)
    assert (page.status, page.title) == (503, "Links are not set up")


class FailingClaims(InMemoryEntityTable):
    def upsert(self, partition: str, row: str, entity: object) -> None:  # type: ignore[override]
        raise StorageUnavailableError("storage down")


def test_a_claim_that_could_not_be_stored_leaves_the_link_usable() -> None:
    used = InMemoryEntityTable()
    page = ActionService(KEY, used, ClaimStore(FailingClaims())).handle(
        "POST", TOKEN, b"by=Alice", NOW
    )
    assert page.status == 503
    assert used.rows == {}  # not marked used: the person may try again
    claims = ClaimStore(InMemoryEntityTable())
    assert ActionService(KEY, used, claims).handle("POST", TOKEN, b"by=Alice", NOW).status == 200


def test_the_page_escapes_what_it_shows() -> None:
    link = ActionLink("claim", VM, "<script>x</script>", LINK.expires)
    page = ActionService(KEY, InMemoryEntityTable(), ClaimStore(InMemoryEntityTable())).handle(
        "GET", sign(link, KEY), b"", NOW
    )
    assert "<script>" not in page.html()
    assert "&lt;script&gt;" in page.html()


SQL_02 = VM.replace("web-1", "sql-02")
STEP = ActionLink("start", "step 2", "email-demo", 0, "WAVE-1", (SQL_02,))
CONFIRM_CASES = [
    # GIVEN the window's end as ARM gave it, WHEN the link's receiver reads  THEN the page's item
    ("Amsterdam", "2026-12-16T12:58:10Z", "Europe/Amsterdam",
     "sql-02: self-service window ends Wed 16 Dec 13:58 CET (12:58 UTC)"),
    ("an offset from ARM", "2026-12-16T13:58:10+01:00", "UTC",
     "sql-02: self-service window ends Wed 16 Dec 12:58 UTC"),
    ("no end given", None, "Europe/Amsterdam", "sql-02: self-service window ends unknown"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("end", "zone", "item"), [c[1:] for c in CONFIRM_CASES], ids=[c[0] for c in CONFIRM_CASES]
)
def test_the_confirm_page_says_the_window_end_in_the_receivers_zone(
    end: str | None, zone: str, item: str
) -> None:
    check = StartCheck("ok", "Start maintenance of sql-02 now.", [VmNow(SQL_02, "sql-02", end)])
    clock = ReaderClock(zone_or_utc(zone), "en", datetime(2026, 12, 7, 13, tzinfo=UTC))
    page = confirm_page(check, STEP, ("sql-02",), clock)
    assert (page.status, page.items) == (200, (item,))


TOO_EARLY = StartCheck(
    "too_early",
    "step 1 (sql-01) finished at 2026-12-07T13:17:38Z; Azure keeps at least 30 minutes between "
    "steps, so this one may start from 2026-12-07T13:47:38Z.",
    [VmNow(SQL_02, "sql-02")],
)
REFUSAL_CASES = [
    # GIVEN the refusal, WHEN the link's receiver reads   THEN the page says
    ("Amsterdam", "Europe/Amsterdam",
     "Start of step 2 (sql-02): step 1 (sql-01) finished at Mon 7 Dec 14:17 CET (13:17 UTC); "
     "Azure keeps at least 30 minutes between steps, so this one may start from "
     "Mon 7 Dec 14:47 CET (13:47 UTC). Nothing was changed."),
    ("UTC", "UTC",
     "Start of step 2 (sql-02): step 1 (sql-01) finished at Mon 7 Dec 13:17 UTC; "
     "Azure keeps at least 30 minutes between steps, so this one may start from "
     "Mon 7 Dec 13:47 UTC. Nothing was changed."),
]  # fmt: skip


@pytest.mark.parametrize(
    ("zone", "text"), [c[1:] for c in REFUSAL_CASES], ids=[c[0] for c in REFUSAL_CASES]
)
def test_a_refusal_says_its_moments_in_the_receivers_zone(zone: str, text: str) -> None:
    clock = ReaderClock(zone_or_utc(zone), "en", datetime(2026, 12, 7, 13, 20, tzinfo=UTC))
    page = confirm_page(TOO_EARLY, STEP, ("sql-02",), clock)
    assert (page.status, page.text) == (409, text)
