"""Who may post alerts: the alerts key, Secure Webhook tokens and the subscription allow-list.

    InboundAuthError
    ├── AlertsKeyProblem        no usable alerts key is configured (503: fix the setting)
    ├── NotAuthenticatedError   no token, or one failing signature, issuer, audience, expiry (401)
    ├── NotAuthorizedError      a valid token without the Action Groups role or app, or a
    │                           subscription outside the allow-list (403)
    └── KeysUnavailableError    the tenant's signing keys could not be fetched (503: retry)

The alerts key is the app's own, not a platform function or host key: the Action Group's URI
carries it, and anyone with Reader on a monitored subscription can read that URI, so it must
open ``POST /api/alerts`` and nothing else. Being the app's own, it is also set by the same
deployment that writes the URI (no ``listKeys`` on an app created moments before) and checked
the same way by the Functions host and ``forewarn serve``.

Secure Webhook adds an Entra ID bearer token: the principal that Action Groups use is shared
by every action group in the tenant, so the allow-list of subscriptions is what stops another
team's action group from posting here.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared import names

ACTION_GROUPS_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a"  # Microsoft's, fixed
ACTION_GROUPS_ROLE = "ActionGroupsSecureWebhook"
_JWKS_CACHE_SECONDS = 3600
_CLOCK_SKEW_SECONDS = 120


class InboundAuthError(Exception):
    """Base class of inbound authentication and authorisation failures."""


class NotAuthenticatedError(InboundAuthError):
    pass


class NotAuthorizedError(InboundAuthError):
    pass


class KeysUnavailableError(InboundAuthError):
    pass


class AlertsKeyProblem(InboundAuthError):
    """No usable alerts key: every alert is refused until the setting is fixed."""


# What App Service leaves in a setting whose Key Vault reference did not resolve.
_UNRESOLVED_REFERENCE = "@microsoft.keyvault("
MIN_ALERTS_KEY_LENGTH = 12


@dataclass(frozen=True)
class AlertsKeys:
    """The current alerts key and, during a rotation, the previous one."""

    keys: tuple[str, ...]
    problem: str | None = None

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> AlertsKeys:
        keys: list[str] = []
        problem: str | None = None
        for setting, required in (
            (names.SETTING_ALERTS_KEY, True),
            (names.SETTING_ALERTS_KEY_PREVIOUS, False),
        ):
            value = environ.get(setting, "").strip()
            if not value:
                if required:
                    problem = problem or f"missing ({setting} is not set)"
                continue
            if value.lower().startswith(_UNRESOLVED_REFERENCE):
                problem = problem or (
                    f"unresolved ({setting} is a Key Vault reference that did not resolve)"
                )
                continue
            if len(value) < MIN_ALERTS_KEY_LENGTH:
                problem = problem or (
                    f"too short ({setting} needs {MIN_ALERTS_KEY_LENGTH} characters or more)"
                )
                continue
            keys.append(value)
        return cls(tuple(keys), problem)

    def require(self) -> None:
        if self.problem is not None:
            raise AlertsKeyProblem(self.problem)

    def accepts(self, given: str) -> bool:
        """Constant time in the key's content; an empty key never matches."""
        if not given:
            return False
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(given.encode(), key.encode())
        return matched

    def accepts_request(self, params: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        """As the Functions host reads a key: ``?code=`` first, else ``x-functions-key``."""
        given = params.get("code")
        if given is None:
            given = next(
                (value for name, value in headers.items() if name.lower() == "x-functions-key"),
                "",
            )
        return self.accepts(given)


@dataclass(frozen=True)
class SecureWebhookSettings:
    tenant_id: str
    audiences: tuple[str, ...]
    jwks_url: str
    issuers: tuple[str, ...]

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> SecureWebhookSettings | None:
        tenant = environ.get(names.SETTING_SECURE_WEBHOOK_TENANT_ID, "").strip()
        audience = environ.get(names.SETTING_SECURE_WEBHOOK_AUDIENCE, "").strip()
        if not tenant and not audience:
            return None
        if not (tenant and audience):
            raise ValueError(
                f"set both {names.SETTING_SECURE_WEBHOOK_TENANT_ID} and "
                f"{names.SETTING_SECURE_WEBHOOK_AUDIENCE} to turn on Secure Webhook"
            )
        jwks_url = environ.get(names.SETTING_SECURE_WEBHOOK_JWKS_URL, "").strip() or (
            f"https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys"
        )
        issuers_text = environ.get(names.SETTING_SECURE_WEBHOOK_ISSUERS, "").strip()
        issuers = (
            tuple(_split(issuers_text))
            if issuers_text
            else (
                f"https://login.microsoftonline.com/{tenant}/v2.0",
                f"https://sts.windows.net/{tenant}/",
            )
        )
        return cls(tenant, tuple(_split(audience)), jwks_url, issuers)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


class SecureWebhookVerifier:
    """Checks an Action Group's Entra ID bearer token against the tenant's keys."""

    def __init__(self, settings: SecureWebhookSettings) -> None:
        # PyJWT and cryptography cost ~30 ms of cold start; only Secure Webhook needs them.
        import jwt

        self.settings = settings
        # PyJWKClient caches the key set and refetches on an unknown key id (key rollover).
        self._keys = jwt.PyJWKClient(
            settings.jwks_url, cache_keys=True, lifespan=_JWKS_CACHE_SECONDS, timeout=5
        )

    def verify(self, authorization_header: str | None) -> dict[str, Any]:
        import jwt

        token = _bearer_token(authorization_header)
        try:
            signing_key = self._keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as error:
            raise KeysUnavailableError("the tenant's signing keys could not be fetched") from error
        except (jwt.PyJWKClientError, jwt.DecodeError) as error:
            raise NotAuthenticatedError("bearer token is not signed by a key of the tenant") from (
                error
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                audience=list(self.settings.audiences),
                issuer=list(self.settings.issuers),
                leeway=_CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise NotAuthenticatedError("bearer token has expired") from error
        except jwt.InvalidAudienceError as error:
            raise NotAuthenticatedError("bearer token is for another audience") from error
        except jwt.InvalidIssuerError as error:
            raise NotAuthenticatedError("bearer token is from another issuer") from error
        except jwt.InvalidTokenError as error:
            raise NotAuthenticatedError("bearer token is not valid") from error
        roles = claims.get("roles") or []
        if not isinstance(roles, list) or ACTION_GROUPS_ROLE not in roles:
            raise NotAuthorizedError(f"bearer token lacks the role {ACTION_GROUPS_ROLE}")
        caller = claims.get("azp") or claims.get("appid")
        if caller != ACTION_GROUPS_APP_ID:
            raise NotAuthorizedError("bearer token was not issued to Azure Monitor Action Groups")
        return claims


def _bearer_token(header: str | None) -> str:
    if not header:
        raise NotAuthenticatedError("Authorization header with a bearer token is required")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticatedError("Authorization header must be 'Bearer <token>'")
    return token.strip()


class SubscriptionAllowList:
    """Subscriptions this deployment serves; empty means any."""

    def __init__(self, subscription_ids: Iterable[str]) -> None:
        self._allowed = frozenset(sub.strip().lower() for sub in subscription_ids if sub.strip())

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> SubscriptionAllowList:
        return cls(_split(environ.get(names.SETTING_ALLOWED_SUBSCRIPTIONS, "")))

    def check(self, subscription_ids: Iterable[str]) -> None:
        if not self._allowed:
            return
        outside = [sub for sub in subscription_ids if sub.lower() not in self._allowed]
        if outside:
            raise NotAuthorizedError(f"subscription {outside[0]} is not served by this forewarn")
