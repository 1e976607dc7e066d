"""A stand-in for Entra ID's JWKS endpoint, with a locally generated RSA key.

It serves ``/{tenant}/discovery/v2.0/keys`` like login.microsoftonline.com and mints tokens
shaped like the ones Action Groups' Secure Webhook sends (v2 issuer, ``roles``, ``azp``).
"""

from __future__ import annotations

import json
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.auth import ACTION_GROUPS_APP_ID, ACTION_GROUPS_ROLE
from shared.standins.http_stub import StubServer, reply

TENANT = "72f988bf-0000-4000-8000-2d7cd011db47"
AUDIENCE = "api://forewarn-test"


class EntraStandIn:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self.available = True
        self._server = StubServer(self._respond)

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        if not self.available:
            reply(handler, 503, b"unavailable", "text/plain")
            return
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        reply(handler, 200, json.dumps({"keys": [jwk]}).encode(), "application/json")

    @property
    def jwks_url(self) -> str:
        return f"{self._server.url}/{TENANT}/discovery/v2.0/keys"

    @property
    def fetches(self) -> int:
        return len(self._server.requests)

    def settings(self) -> dict[str, str]:
        return {
            "FOREWARN_SECURE_WEBHOOK_TENANT_ID": TENANT,
            "FOREWARN_SECURE_WEBHOOK_AUDIENCE": AUDIENCE,
            "FOREWARN_SECURE_WEBHOOK_JWKS_URL": self.jwks_url,
        }

    def token(self, *, signed_by_other_key: bool = False, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0",
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "azp": ACTION_GROUPS_APP_ID,
            "roles": [ACTION_GROUPS_ROLE],
            "tid": TENANT,
            "ver": "2.0",
        }
        claims.update(overrides)
        claims = {key: value for key, value in claims.items() if value is not None}
        key = self.other_key if signed_by_other_key else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})

    def __enter__(self) -> EntraStandIn:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(*exc)
