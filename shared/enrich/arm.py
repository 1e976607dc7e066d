"""A small Azure Resource Manager client over ``requests``: paced, paged, retried.

Why not the Azure SDK: forewarn makes four kinds of calls (list VMs, read one VM, list Resource
Health impacted resources, start maintenance). ``azure-mgmt-compute`` would add megabytes of
generated models to every cold start for that; ``requests`` is already a dependency, and the
pacing below needs the raw rate-limit headers anyway.

Credentials: ``FOREWARN_ARM_TOKEN`` (a static bearer token: tests, or a pasted
``az account get-access-token``) wins; otherwise azure-identity, imported only then: a
user-assigned managed identity when ``AZURE_CLIENT_ID`` is set, ``DefaultAzureCredential``
otherwise. ``FOREWARN_ARM_ENDPOINT`` points the client at a sovereign cloud or a stand-in.
Proxy and CA bundle settings (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``) are read
from the environment once, when the client is made.

The token is only ever sent to the configured endpoint: ``nextLink`` and long-running-operation
URLs on another host are refused rather than followed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from shared import names
from shared.enrich.arm_paths import UnsafePathError, check_path
from shared.enrich.arm_tokens import TokenProvider, token_provider_from_settings
from shared.enrich.errors import (
    ArmAuthenticationError,
    ArmError,
    ArmForbiddenError,
    ArmNotFoundError,
    ArmOperationError,
    ArmOperationTimeoutError,
    ArmRequestError,
    ArmThrottledError,
    ArmUnavailableError,
)
from shared.enrich.pacing import TENANT_SCOPE, Monotonic, Operation, Pacer, Sleep
from shared.parsing.resource_id import subscription_of_url, vm_of_url
from shared.timeutil import duration_hms_seconds, retry_after_seconds

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT: Final = "https://management.azure.com"

# Every api-version forewarn sends, in one place.
API_VERSIONS: Final = {
    "Microsoft.Compute": "2024-07-01",
    "Microsoft.ResourceHealth": "2022-10-01",
    "Microsoft.DevTestLab": "2018-09-15",
}

_RETRYABLE_STATUS = frozenset({408, 500, 502, 503, 504})

# Requests in flight at once. ARM limits reads by token bucket (250 at once per subscription,
# then 25 a second), not by connections: a notice's first 250 reads cost round trips only,
# 200 of them ~7 round trips at 32 side by side where 16 took ~13. The pacer still decides
# when each may go, so a bigger fleet waits on the bucket as before.
MAX_CONCURRENCY: Final = 32


def api_version(provider: str) -> str:
    return API_VERSIONS[provider]


@dataclass(frozen=True)
class ArmResponse:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]


@dataclass
class ArmStats:
    requests: int = 0
    throttled: int = 0  # 429 answers received
    retries: int = 0


def _poll_wait(headers: Mapping[str, str], default: float) -> float:
    retry = retry_after_seconds(headers.get("Retry-After"))
    return default if retry is None else retry


def _error_text(response: requests.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, response.reason or f"HTTP {response.status_code}"
    error = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(error, dict):
        return None, str(error)
    return error.get("code"), str(error.get("message") or response.reason)


class ArmClient:
    """Paced, bounded, retried ARM calls. Thread-safe: share one per process."""

    def __init__(
        self,
        endpoint: str,
        tokens: TokenProvider,
        *,
        pacer: Pacer | None = None,
        max_concurrency: int = MAX_CONCURRENCY,
        max_attempts: int = 5,
        max_retry_after: float = 60.0,
        timeout: tuple[float, float] = (5.0, 30.0),
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._origin = urlsplit(self.endpoint)[:2]
        self._tokens = tokens
        self.pacer = pacer or Pacer(monotonic=monotonic, sleep=sleep)
        self.max_concurrency = max_concurrency
        self._in_flight = threading.BoundedSemaphore(max_concurrency)
        self._max_attempts = max_attempts
        self._max_retry_after = max_retry_after
        self._timeout = timeout
        self._monotonic = monotonic
        self._sleep = sleep
        # The environment's proxy and CA bundle settings for the endpoint, read once: requests
        # reads them again on every call (walking os.environ, ~0.2 ms; 200 calls on a cold
        # 200-VM notice), and a worker's environment is fixed when it starts. With trust_env
        # off, the session reads nothing more from it (nor a .netrc) and is told these.
        self._session = requests.Session()
        environment = self._session.merge_environment_settings(self.endpoint, {}, None, None, None)
        self._proxies: dict[str, str] = dict(environment.get("proxies") or {})
        verify = environment.get("verify")
        self._verify: bool | str = True if verify is None else verify
        self._session.trust_env = False
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max_concurrency)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self.stats = ArmStats()
        self._stats_lock = threading.Lock()

    @classmethod
    def from_settings(cls, environ: Mapping[str, str], **options: Any) -> ArmClient:
        endpoint = (environ.get(names.SETTING_ARM_ENDPOINT) or DEFAULT_ENDPOINT).rstrip("/")
        return cls(endpoint, token_provider_from_settings(environ, endpoint), **options)

    def close(self) -> None:
        self._session.close()

    # -- public calls ----------------------------------------------------------------

    def get(
        self,
        path: str,
        operation: Operation,
        *,
        params: Mapping[str, str] | None = None,
        resource: str | None = None,
    ) -> dict[str, Any]:
        return self.request("GET", path, operation, params=params, resource=resource).body

    def pages(
        self, path: str, operation: Operation, *, params: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list, following ``nextLink`` page by page."""
        body = self.get(path, operation, params=params)
        while True:
            yield from body.get("value") or []
            next_link = body.get("nextLink")
            if not next_link:
                return
            body = self.get(next_link, operation)

    def post_and_wait(
        self,
        path: str,
        operation: Operation,
        *,
        params: Mapping[str, str] | None = None,
        timeout_seconds: float = 1800.0,
        default_poll_seconds: float = 15.0,
    ) -> str:
        """POST a long-running action and follow it to its end; returns the final status."""
        vm = vm_of_url(path)
        resource = vm.key if vm else None
        response = self.request("POST", path, operation, params=params, resource=resource)
        if response.status != 202:
            return "Succeeded"
        monitor = response.headers.get("Azure-AsyncOperation") or response.headers.get("Location")
        if not monitor:
            raise ArmRequestError("202 Accepted without a Location to follow", status=202)
        deadline = self._monotonic() + timeout_seconds
        wait = _poll_wait(response.headers, default_poll_seconds)
        while True:
            if self._monotonic() + wait > deadline:
                raise ArmOperationTimeoutError(
                    f"{path}: still running after {timeout_seconds:.0f}s"
                )
            self._sleep(wait)
            polled = self.request("GET", monitor, Operation.VM_OPERATION, resource=resource)
            status = str(polled.body.get("status") or "")
            if polled.status == 202 or status.lower() in {"inprogress", "accepted", "running"}:
                wait = _poll_wait(polled.headers, default_poll_seconds)
                continue
            if status and status.lower() != "succeeded":
                error = polled.body.get("error") or {}
                raise ArmOperationError(
                    f"{path}: {status}: {error.get('message') or 'no reason given'}",
                    code=error.get("code"),
                )
            return "Succeeded"

    # -- the one place requests are sent -----------------------------------------------

    def _url(self, path: str) -> str:
        """The URL to send, refused when a client or server would read another path.

        Relative paths carry no query or fragment (parameters go in ``params``); a path with
        dot segments or backslashes is refused, whoever built it (an id from an alert, an ARM
        answer's ``id`` or ``nextLink``), as the last line of the subscription guard."""
        if path.startswith(("http://", "https://")):
            if urlsplit(path)[:2] != self._origin:
                raise ArmRequestError(f"refusing to send the ARM token to {urlsplit(path)[1]}")
            if "#" in path:
                raise UnsafePathError(f"ARM URL carries a fragment: {path[:200]!r}")
            check_path(path)
            return path
        if not path.startswith("/") or any(c in path for c in "?#"):
            raise UnsafePathError(f"ARM path must be a plain absolute path: {path[:200]!r}")
        check_path(path)
        return f"{self.endpoint}{path}"

    def request(
        self,
        method: str,
        path: str,
        operation: Operation,
        *,
        params: Mapping[str, str] | None = None,
        resource: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> ArmResponse:
        url = self._url(path)
        # The buckets this request draws on; a URL outside any subscription shares one.
        subscription = subscription_of_url(url) or TENANT_SCOPE
        vm = None if resource else vm_of_url(url)
        resource = resource or (vm.key if vm else None)
        last_error: ArmError | None = None
        for attempt in range(1, self._max_attempts + 1):
            if attempt > 1:
                with self._stats_lock:
                    self.stats.retries += 1
            ticket = self.pacer.acquire(subscription, operation, resource)
            headers = {"Authorization": f"Bearer {self._tokens.token()}"}
            try:
                with self._in_flight:
                    response = self._session.request(
                        method,
                        url,
                        params=params,
                        headers=headers,
                        json=body,
                        timeout=self._timeout,
                        proxies=dict(self._proxies),
                        verify=self._verify,
                    )
            except requests.RequestException as error:
                last_error = ArmUnavailableError(f"{method} {path}: {type(error).__name__}")
                # Backoff adds up to half a minute; say what is being waited for.
                log.warning(
                    "ARM %s unreachable (%s), attempt %d of %d",
                    urlsplit(url).netloc,
                    type(error).__name__,
                    attempt,
                    self._max_attempts,
                )
                self._sleep(min(2.0 ** (attempt - 1), 30.0))
                continue
            with self._stats_lock:
                self.stats.requests += 1
            remaining_header = (
                "x-ms-ratelimit-remaining-subscription-writes"
                if self.pacer.limits.is_write(operation)
                else "x-ms-ratelimit-remaining-subscription-reads"
            )
            remaining = response.headers.get(remaining_header)
            if remaining and remaining.strip().isdigit():
                self.pacer.observe_remaining(ticket, int(remaining))
            if operation is Operation.GRAPH_QUERY:
                self._observe_quota(response.headers)
            status = response.status_code
            if status == 429:
                with self._stats_lock:
                    self.stats.throttled += 1
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                wait = 2.0**attempt if wait is None else wait
                code, message = _error_text(response)
                log.info("ARM throttled %s %s (%s); retry after %.1fs", method, path, code, wait)
                if wait > self._max_retry_after:
                    raise ArmThrottledError(
                        f"throttled by ARM ({code}); asked to wait {wait:.0f}s", retry_after=wait
                    )
                self.pacer.hold(subscription, wait)
                last_error = ArmThrottledError(
                    f"throttled by ARM ({code}) {attempt} times: {message}", retry_after=wait
                )
                continue
            if status in _RETRYABLE_STATUS:
                code, message = _error_text(response)
                last_error = ArmUnavailableError(
                    f"{method} {path}: HTTP {status} {code or ''} {message}".strip(),
                    status=status,
                    code=code,
                )
                retry = retry_after_seconds(response.headers.get("Retry-After"))
                self._sleep(min(retry if retry is not None else 2.0 ** (attempt - 1), 30.0))
                continue
            if status >= 400:
                raise self._client_error(method, path, response)
            return ArmResponse(status, self._json(response), response.headers)
        assert last_error is not None
        raise last_error

    def _observe_quota(self, headers: Mapping[str, str]) -> None:
        """Resource Graph's ``x-ms-user-quota-remaining`` and ``…-resets-after`` (hh:mm:ss)."""
        remaining = (headers.get("x-ms-user-quota-remaining") or "").strip()
        resets_after = duration_hms_seconds(headers.get("x-ms-user-quota-resets-after"))
        if remaining.isdigit() and resets_after is not None:
            self.pacer.observe_quota(int(remaining), resets_after)

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        if not response.content:
            return {}
        try:
            body = response.json()
        except ValueError as error:
            raise ArmRequestError("ARM answered something that is not JSON") from error
        return body if isinstance(body, dict) else {"value": body}

    @staticmethod
    def _client_error(method: str, path: str, response: requests.Response) -> ArmError:
        code, message = _error_text(response)
        status = response.status_code
        text = f"{method} {path}: HTTP {status} {code or ''}: {message}"
        if status == 401:
            return ArmAuthenticationError(
                f"ARM rejected the credentials ({code or 'HTTP 401'})", status=status, code=code
            )
        if status == 403:
            return ArmForbiddenError(text, status=status, code=code)
        if status == 404:
            return ArmNotFoundError(text, status=status, code=code)
        return ArmRequestError(text, status=status, code=code)
