"""Who pressed a Start link: App Service authentication's headers, read only when trusted.

GIVEN the headers below (as App Service authentication adds them, in any case)
WHEN  the person is read with the sign-in trusted (FOREWARN_ACTIONS_SIGN_IN=easyauth) or not
THEN  the name is the one shown, or "" (nobody).
"""

from __future__ import annotations

import base64
import json

import pytest

from shared import names
from shared.start.principal import sign_in_trusted, signed_in_person


def _principal(claims: list[tuple[str, str]], name_typ: str = "name") -> str:
    document = {
        "auth_typ": "aad",
        "name_typ": name_typ,
        "role_typ": "roles",
        "claims": [{"typ": typ, "val": val} for typ, val in claims],
    }
    return base64.b64encode(json.dumps(document).encode()).decode()


UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
CASES = [
    # GIVEN headers                                                   trusted  THEN person
    ({"X-MS-CLIENT-PRINCIPAL-NAME": "alice@contoso.com"}, True, "alice@contoso.com"),
    ({"x-ms-client-principal-name": "alice@contoso.com"}, True, "alice@contoso.com"),
    ({"X-MS-CLIENT-PRINCIPAL-NAME": "alice@contoso.com"}, False, ""),
    (
        {"X-MS-CLIENT-PRINCIPAL": _principal([(UPN, "bob@contoso.com")], UPN)},
        True,
        "bob@contoso.com",
    ),
    (
        {"X-MS-CLIENT-PRINCIPAL": _principal([("preferred_username", "eve@c.com")])},
        True,
        "eve@c.com",
    ),
    ({"X-MS-CLIENT-PRINCIPAL": _principal([("roles", "x")])}, True, ""),
    ({"X-MS-CLIENT-PRINCIPAL": "not base64 json!"}, True, ""),
    ({"X-MS-CLIENT-PRINCIPAL": "A" * 20_000}, True, ""),
    ({"X-MS-CLIENT-PRINCIPAL-NAME": "alice\x00@contoso.com"}, True, ""),
    ({}, True, ""),
]


@pytest.mark.parametrize(("headers", "trusted", "person"), CASES)
def test_the_person_is_read_from_app_service_authentication_only_when_trusted(
    headers: dict[str, str], trusted: bool, person: str
) -> None:
    assert signed_in_person(headers, trusted) == person


@pytest.mark.parametrize(
    ("value", "trusted"), [("easyauth", True), ("EasyAuth ", True), ("", False), ("yes", False)]
)
def test_only_easyauth_makes_the_headers_trusted(value: str, trusted: bool) -> None:
    assert sign_in_trusted({names.SETTING_ACTIONS_SIGN_IN: value}) is trusted
