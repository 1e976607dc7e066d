"""Bearer tokens for ARM: a static one (``FOREWARN_ARM_TOKEN``: tests, or a pasted
``az account get-access-token``) or azure-identity's, kept until five minutes before it expires.

azure-identity is imported only when a token is first wanted from it: a static token saves its
cold-start cost. A credential failure is one named error (``ArmAuthenticationError``) that says
the one thing to do; the credential chain's own story goes to debug logs.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from shared import names
from shared.enrich.errors import ArmAuthenticationError

# The ARM client's logger: its tokens were part of it, and logging settings name that one.
log = logging.getLogger("shared.enrich.arm")


class TokenProvider(ABC):
    @abstractmethod
    def token(self) -> str:
        """A bearer token for ARM; raise ``ArmAuthenticationError`` when there is none."""


class StaticTokenProvider(TokenProvider):
    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        return self._token


class IdentityTokenProvider(TokenProvider):
    """azure-identity, with the token kept until five minutes before it expires."""

    def __init__(self, scope: str, client_id: str | None) -> None:
        self._scope = scope
        self._client_id = client_id
        self._credential: Any = None
        self._cached: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            if self._cached and self._cached[1] - 300 > time.time():
                return self._cached[0]
            try:
                if self._credential is None:
                    # Imported here: azure-identity costs cold-start time a static token saves.
                    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

                    self._credential = (
                        ManagedIdentityCredential(client_id=self._client_id)
                        if self._client_id
                        else DefaultAzureCredential()
                    )
                access = self._credential.get_token(self._scope)
            except Exception as error:  # every credential failure means the same to us
                # The credential chain's own story is a dozen lines; it goes to debug logs,
                # and the person gets the one thing to do.
                log.debug("no ARM token from azure-identity", exc_info=True)
                raise ArmAuthenticationError(self._what_to_do(error)) from error
            self._cached = (str(access.token), float(access.expires_on))
            return self._cached[0]

    def _what_to_do(self, error: Exception) -> str:
        if self._client_id:
            return (
                f"no ARM token for the managed identity {names.SETTING_AZURE_CLIENT_ID}="
                f"{self._client_id} ({type(error).__name__}); is it assigned to this app?"
            )
        return (
            f"no Azure credentials for ARM ({type(error).__name__}): run `az login`, or set "
            f"{names.SETTING_ARM_TOKEN} to `az account get-access-token --query accessToken "
            "-o tsv`"
        )


def token_provider_from_settings(environ: Mapping[str, str], endpoint: str) -> TokenProvider:
    static = environ.get(names.SETTING_ARM_TOKEN, "").strip()
    if static:
        return StaticTokenProvider(static)
    client_id = environ.get(names.SETTING_AZURE_CLIENT_ID, "").strip() or None
    return IdentityTokenProvider(f"{endpoint}/.default", client_id)
