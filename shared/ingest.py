"""The ingest stage: one Action Group POST in, one status out, one message on ``events``.

Order of checks, cheapest and least revealing first: alerts key (401, or 503 while no usable
key is configured), size (413), content type (415), bearer token (401/403), JSON (400),
schema (400), "is this for us" (200), subscription allow-list (403), enqueue (202, or 503
when storage fails so that the Action Group retries: it retries only 408, 429, 503, 504 and
network errors). Nothing slow runs before the answer: one queue write (and a blob write for a
payload too large for a queue message). The queued copy carries a token; an event already taken
in (an Action Group re-post, a second rule) is dropped by the enrich stage, before any ARM read,
grouping or routing, and logged there as "duplicate of event …, nothing sent"
(``shared/accepted.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared import names
from shared.accepted import stamped
from shared.auth import (
    AlertsKeys,
    KeysUnavailableError,
    NotAuthenticatedError,
    NotAuthorizedError,
    SecureWebhookSettings,
    SecureWebhookVerifier,
    SubscriptionAllowList,
)
from shared.parsing.decode import decode_body
from shared.parsing.errors import (
    InvalidAlertError,
    InvalidJsonError,
    NotForForewarnError,
    Problem,
    clip,
    report,
)
from shared.parsing.normalise import parse_alert
from shared.storage import Courier, Envelope, StorageError, StorageServices
from shared.telemetry import count, get_logger, stage_span
from shared.timeutil import Clock, utc_now

MAX_BODY_BYTES = 256 * 1024  # Azure Monitor's documented upper size of a common-schema alert
_JSON_TYPES = ("application/json", "text/json")

log = get_logger("forewarn.ingest")


@dataclass(frozen=True)
class IngestRequest:
    body: bytes
    headers: Mapping[str, str]  # any case; looked up case-insensitively
    params: Mapping[str, str] = field(default_factory=dict)  # the query string, decoded

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True)
class IngestResponse:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, error: str, message: str, **extra: Any) -> IngestResponse:
    return IngestResponse(status, {"error": error, "message": message, **extra})


def _invalid(error: str, message: str, problems: Sequence[Problem]) -> IngestResponse:
    """A 400 naming each field by pointer: the first few, clipped, and how many in all."""
    return _error(400, error, clip(message), **report(problems))


class AlertIngestor:
    def __init__(
        self,
        courier: Courier | None,
        *,
        keys: AlertsKeys | None = None,
        verifier: SecureWebhookVerifier | None = None,
        allow_list: SubscriptionAllowList | None = None,
        clock: Clock = utc_now,
        storage_problem: str | None = None,
        config_problem: str | None = None,
    ) -> None:
        self._config_problem = config_problem
        # None: the caller has already authenticated the request (tests of the stages below).
        self._keys = keys
        self._courier = courier
        self._verifier = verifier
        self._allow_list = allow_list or SubscriptionAllowList([])
        self._clock = clock
        self._storage_problem = storage_problem

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> AlertIngestor:
        keys = AlertsKeys.from_settings(environ)
        if keys.problem is not None:
            # Refuse every alert with a 503 rather than accept any: once the key is set, the
            # Action Group's next attempt (or the catch-up) gets through.
            log.error("the alerts key is %s", keys.problem)
            return cls(None, keys=keys, config_problem=keys.problem)
        try:
            secure = SecureWebhookSettings.from_settings(environ)
        except ValueError as error:
            # Half-configured Secure Webhook: refuse every alert with a 503 (the Action Group
            # retries, and keeps retrying once the setting is fixed) rather than a 500 (which
            # it drops) or, worse, accepting unauthenticated alerts.
            log.error("inbound authentication is misconfigured: %s", error)
            return cls(None, config_problem=str(error))
        try:
            courier: Courier | None = StorageServices.from_settings(environ).courier
            problem = None
        except StorageError as error:
            # Answer 503 per request rather than failing to load: the Action Group retries.
            courier, problem = None, str(error)
        return cls(
            courier,
            keys=keys,
            verifier=SecureWebhookVerifier(secure) if secure else None,
            allow_list=SubscriptionAllowList.from_settings(environ),
            storage_problem=problem,
        )

    def handle(self, request: IngestRequest) -> IngestResponse:
        if self._config_problem is not None:
            return _error(503, "misconfigured", "forewarn is misconfigured; retry later")
        if self._keys is not None and not self._keys.accepts_request(
            request.params, request.headers
        ):
            return _error(
                401,
                "unauthorized",
                "a valid alerts key is required: ?code=KEY or the x-functions-key header",
            )
        if len(request.body) > MAX_BODY_BYTES:
            return _error(413, "payload_too_large", f"body exceeds {MAX_BODY_BYTES} bytes")
        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        if content_type not in _JSON_TYPES:
            return _error(
                415,
                "unsupported_media_type",
                f"Content-Type must be application/json, got {content_type or 'none'!r}",
            )
        if self._verifier is not None:
            try:
                self._verifier.verify(request.header("authorization"))
            except NotAuthenticatedError as error:
                return IngestResponse(
                    401,
                    {"error": "unauthenticated", "message": str(error)},
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            except NotAuthorizedError as error:
                return _error(403, "forbidden", str(error))
            except KeysUnavailableError as error:
                return _error(503, "keys_unavailable", str(error))

        try:
            event = parse_alert(decode_body(request.body), self._clock())
        except InvalidJsonError as error:
            count("forewarn.events", outcome="invalid")
            return _invalid("invalid_json", error.problems[0].message, error.problems)
        except InvalidAlertError as error:
            count("forewarn.events", outcome="invalid")
            return _invalid(
                "invalid_alert", "the alert does not have the shape Azure sends", error.problems
            )
        except NotForForewarnError as error:
            count("forewarn.events", outcome="ignored")
            return IngestResponse(200, {"accepted": False, "reason": clip(error.reason)})

        try:
            self._allow_list.check(event.subscription_ids)
        except NotAuthorizedError as error:
            return _error(403, "subscription_not_allowed", str(error))

        if self._courier is None:
            log.error("storage is not configured: %s", self._storage_problem)
            return _error(503, "storage_unavailable", "events could not be stored; retry later")
        with stage_span("ingest", event_id=event.event_id, kind=event.kind) as traceparent:
            try:
                self._courier.send(
                    names.QUEUE_EVENTS,
                    Envelope(
                        kind="event",
                        id=event.event_id,
                        body=stamped(event, self._clock(), via="webhook"),
                        traceparent=traceparent,
                    ),
                )
            except StorageError:
                log.exception("event %s could not be queued", event.event_id)
                return _error(503, "storage_unavailable", "events could not be stored; retry later")
        count("forewarn.events", outcome="accepted", kind=event.kind)
        log.info("accepted event %s (%s, %s)", event.event_id, event.kind, event.stage or "-")
        return IngestResponse(202, {"event_id": event.event_id})
