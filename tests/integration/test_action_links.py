"""Signed action links through `forewarn serve` on Azurite: ``GET|POST /api/actions/{token}``.

GIVEN a link to claim web-1 for ops-email, WHEN it is fetched or posted as below, THEN the page
says what happened and the claims table changes only on the first good POST.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from shared import names
from shared.standins.served import served as serve_process
from shared.storage import StorageServices
from shared.wave.actions import ActionLink, claim_url, sign
from shared.wave.claims import ClaimStore
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

KEY = "action-link-key-for-tests-only"
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def served(azurite: Azurite) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(names.SETTING_ACTION_LINK_KEY, KEY)
        functions = (names.FUNCTION_ACTIONS, names.FUNCTION_HEALTH)
        with serve_process(azurite.connection_string, "unused-alerts-key", functions) as base:
            yield base


@pytest.fixture
def vm_id() -> str:
    return (
        f"/subscriptions/{uuid.uuid4()}/resourceGroups/rg-web"
        "/providers/Microsoft.Compute/virtualMachines/web-1"
    )


@pytest.fixture
def claims(azurite: Azurite) -> ClaimStore:
    storage = StorageServices.from_settings({names.STORAGE_CONNECTION: azurite.connection_string})
    return ClaimStore(storage.table(names.TABLE_CLAIMS))


def _owners(claims: ClaimStore, vm_id: str) -> dict[str, str]:
    return claims.ownership().owners_of(vm_id, None)


def _token(vm_id: str, *, receiver: str = "ops-email", hours: float = 24, key: str = KEY) -> str:
    expires = int((NOW + timedelta(hours=hours)).timestamp())
    return sign(ActionLink("claim", vm_id, receiver, expires), key)


def _tampered(vm_id: str) -> str:
    """A good link whose receiver was changed and the signature kept."""
    body, _, mac = _token(vm_id).partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["r"] = "attacker"
    changed = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{changed}.{mac}"


def _post(base: str, token: str, by: str = "Alice") -> requests.Response:
    return requests.post(f"{base}/api/actions/{token}", data={"by": by}, timeout=10)


BAD_LINKS = [
    # GIVEN a link that is                         THEN status and the page says
    ("tampered", _tampered, 403, "This link is not valid"),
    ("expired", lambda vm: _token(vm, hours=-1), 410, "This link has expired"),
    (
        "signed with another key",
        lambda vm: _token(vm, key="another-key-0123456789"),
        403,
        "not valid",
    ),
    ("not a token", lambda vm: "hello", 400, "This is not an action link"),
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    ("make", "status", "says"), [c[1:] for c in BAD_LINKS], ids=[c[0] for c in BAD_LINKS]
)
def test_a_bad_link_gets_a_clear_page_and_changes_nothing(
    served: str, claims: ClaimStore, vm_id: str, method: str, make: object, status: int, says: str
) -> None:
    token = make(vm_id)  # type: ignore[operator]
    answer = requests.request(
        method, f"{served}/api/actions/{token}", data={"by": "Mallory"}, timeout=10
    )
    assert (answer.status_code, says in answer.text) == (status, True)
    assert "<form" not in answer.text
    assert _owners(claims, vm_id) == {}


def test_get_shows_and_asks_and_only_post_claims_once(
    served: str, claims: ClaimStore, vm_id: str
) -> None:
    token = _token(vm_id)
    # WHEN a mail gateway's scanner fetches the link, three times
    for _ in range(3):
        shown = requests.get(f"{served}/api/actions/{token}", timeout=10)
        # THEN each GET shows what would happen and a form, and nothing changes
        assert shown.status_code == 200
        assert "Claim web-1 (rg-web) for ops-email" in shown.text
        assert '<form method="post">' in shown.text
        assert shown.headers["Cache-Control"] == "no-store"
        assert shown.headers["Referrer-Policy"] == "no-referrer"
        assert _owners(claims, vm_id) == {}
    # WHEN a POST comes without a name THEN it asks again, nothing changes, the link still works
    assert _post(served, token, by="  ").status_code == 400
    assert _owners(claims, vm_id) == {}
    # WHEN the person confirms THEN the VM is theirs, for the link's receiver
    done = _post(served, token)
    assert done.status_code == 200
    assert "web-1 (rg-web): claimed by Alice" in done.text
    assert _owners(claims, vm_id) == {"ops-email": "Alice"}
    # WHEN the claim is ended and the link posted (or fetched) again
    claims.unclaim_vm(vm_id)
    again = _post(served, token, by="Bob")
    # THEN it was used: a clear page, and nothing changes
    assert again.status_code == 410
    assert "already used" in again.text
    assert requests.get(f"{served}/api/actions/{token}", timeout=10).status_code == 410
    assert _owners(claims, vm_id) == {}


def test_the_link_a_message_carries_opens_the_same_page(
    served: str, claims: ClaimStore, vm_id: str
) -> None:
    url = claim_url(served, vm_id, "dba-slack", KEY, NOW)
    assert url.startswith(f"{served}/api/actions/")
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.post(url, data={"by": "Carol"}, timeout=10).status_code == 200
    assert _owners(claims, vm_id) == {"dba-slack": "Carol"}
