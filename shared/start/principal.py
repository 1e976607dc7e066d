"""Who pressed a link: the person App Service authentication signed in, or nobody.

App Service authentication ("Easy Auth"), when configured in front of the app, signs the
person in with Entra ID and adds headers to each request it lets through; requests from
outside cannot set them, App Service removes them (Microsoft Learn, "Work with user identities
in Azure App Service authentication", learn.microsoft.com/azure/app-service/
configure-authentication-user-identities):

    X-MS-CLIENT-PRINCIPAL-NAME   a readable name, such as the user principal name
    X-MS-CLIENT-PRINCIPAL        Base64 JSON of the claims: {"auth_typ", "name_typ", "claims":
                                 [{"typ", "val"}, …]}

Without App Service authentication in front, anyone can send those headers, so they are read
only when ``FOREWARN_ACTIONS_SIGN_IN`` is ``easyauth``; otherwise nobody is known and every
Start is refused for that reason. ``forewarn serve --signed-in-as NAME`` plays the sign-in
locally by setting the setting and the header on each request to ``/api/actions``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Final

from shared import names

EASY_AUTH: Final = "easyauth"
HEADER_NAME: Final = "X-MS-CLIENT-PRINCIPAL-NAME"
HEADER_PRINCIPAL: Final = "X-MS-CLIENT-PRINCIPAL"
MAX_PRINCIPAL_BYTES: Final = 16_384  # a claims header bigger than this is not one we read
# Claim types that carry a sign-in name, in the order they are preferred.
NAME_CLAIMS: Final = (
    "preferred_username",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "upn",
    "name",
)


def sign_in_trusted(environ: Mapping[str, str]) -> bool:
    return (environ.get(names.SETTING_ACTIONS_SIGN_IN) or "").strip().lower() == EASY_AUTH


def _header(headers: Mapping[str, str], name: str) -> str:
    # Frameworks present header names in any case (the same page says so).
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return ""


def _from_claims(encoded: str) -> str:
    if not encoded or len(encoded) > MAX_PRINCIPAL_BYTES:
        return ""
    try:
        data = json.loads(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        return ""
    claims = {
        str(claim.get("typ")): str(claim.get("val") or "")
        for claim in data["claims"]
        if isinstance(claim, dict)
    }
    for typ in (str(data.get("name_typ") or ""), *NAME_CLAIMS):
        if claims.get(typ, "").strip():
            return claims[typ].strip()
    return ""


def signed_in_person(headers: Mapping[str, str], trusted: bool) -> str:
    """The signed-in person's name, or "" (not trusted, or no one signed in)."""
    if not trusted:
        return ""
    name = _header(headers, HEADER_NAME).strip() or _from_claims(_header(headers, HEADER_PRINCIPAL))
    return name[:256] if name and name.isprintable() else ""
