"""Every answer of POST /api/alerts: GIVEN a request WHEN ingested THEN this status and body.

The handler runs in-process with an in-memory queue; Secure Webhook tokens are checked against
a real JWKS stand-in on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from shared import names
from shared.auth import SecureWebhookSettings, SecureWebhookVerifier, SubscriptionAllowList
from shared.ingest import MAX_BODY_BYTES, AlertIngestor, IngestRequest
from shared.standins.jwks_server import EntraStandIn
from shared.storage import Courier, InMemoryPayloadStore, InMemoryQueuePublisher
from tests.conftest import FIXTURES, load_fixture

MAINTENANCE = json.loads(
    (FIXTURES / "forewarn" / "common-servicehealth-maintenance-planned.json").read_text()
)
SUBSCRIPTION = "11111111-1111-1111-1111-111111111111"
JSON = {"Content-Type": "application/json"}


def body_of(payload: Any) -> bytes:
    return json.dumps(payload).encode()


@pytest.fixture(scope="module")
def entra() -> Iterator[EntraStandIn]:
    with EntraStandIn() as stand_in:
        yield stand_in


def ingestor(
    queue: InMemoryQueuePublisher,
    *,
    entra: EntraStandIn | None = None,
    allowed: list[str] | None = None,
) -> AlertIngestor:
    verifier = None
    if entra is not None:
        settings = SecureWebhookSettings.from_settings(entra.settings())
        assert settings is not None
        verifier = SecureWebhookVerifier(settings)
    return AlertIngestor(
        Courier(queue, InMemoryPayloadStore()),
        verifier=verifier,
        allow_list=SubscriptionAllowList(allowed or []),
    )


PLAIN_CASES = [
    # (id, body, headers, status, error or key expected in the answer)
    ("maintenance alert accepted", body_of(MAINTENANCE), JSON, 202, "event_id"),
    (
        "charset in content type",
        body_of(MAINTENANCE),
        {"content-type": "application/json; charset=utf-8"},
        202,
        "event_id",
    ),
    (
        "legacy service health accepted",
        body_of(load_fixture("legacy-activitylog-servicehealth-incident.json")),
        JSON,
        202,
        "event_id",
    ),
    (
        "resource health of a user's reboot is not for us",
        body_of(load_fixture("common-resourcehealth-testaction-2021.json")),
        JSON,
        200,
        "reason",
    ),
    (
        "administrative on another resource type is not for us",
        body_of(load_fixture("legacy-activitylog-administrative.json")),
        JSON,
        200,
        "reason",
    ),
    ("not JSON", b"{not json", JSON, 400, "invalid_json"),
    ("not UTF-8", b"\xff\xfe{}", JSON, 400, "invalid_json"),
    ("JSON but not an alert", body_of([1, 2, 3]), JSON, 400, "invalid_alert"),
    (
        "schema violation",
        body_of({"schemaId": "azureMonitorCommonAlertSchema", "data": {}}),
        JSON,
        400,
        "invalid_alert",
    ),
    (
        "lone surrogate escape",
        body_of(MAINTENANCE).replace(b"Maintenance", b"\\ud800", 1),
        JSON,
        400,
        "invalid_json",
    ),
    (
        "nested deeper than the parser goes",
        b"[" * 100_000 + b"]" * 100_000,
        JSON,
        400,
        "invalid_json",
    ),
    ("too large", b"{" + b" " * MAX_BODY_BYTES + b"}", JSON, 413, "payload_too_large"),
    (
        "form content type",
        body_of(MAINTENANCE),
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "unsupported_media_type",
    ),
    ("no content type", body_of(MAINTENANCE), {}, 415, "unsupported_media_type"),
]


@pytest.mark.parametrize(
    ("body", "headers", "status", "key"),
    [case[1:] for case in PLAIN_CASES],
    ids=[case[0] for case in PLAIN_CASES],
)
def test_status_for_each_kind_of_request(
    body: bytes, headers: dict[str, str], status: int, key: str
) -> None:
    queue = InMemoryQueuePublisher()
    response = ingestor(queue).handle(IngestRequest(body, headers))
    assert response.status == status
    assert key in response.body or response.body.get("error") == key
    queued = list(queue.drain(names.QUEUE_EVENTS))
    assert len(queued) == (1 if status == 202 else 0)
    if status == 202:
        message = json.loads(queued[0])
        assert message["kind"] == "event"
        assert message["body"]["event_id"] == response.body["event_id"]
    if status >= 400:
        assert response.body["message"], "every rejection says why"
        assert "Traceback" not in json.dumps(response.body)


def test_invalid_alert_lists_every_problem_as_a_pointer() -> None:
    broken = json.loads(json.dumps(MAINTENANCE))
    del broken["data"]["alertContext"]["properties"]["trackingId"]
    broken["data"]["alertContext"]["properties"]["impactStartTime"] = "soon"
    response = ingestor(InMemoryQueuePublisher()).handle(IngestRequest(body_of(broken), JSON))
    assert response.status == 400
    pointers = {problem["pointer"] for problem in response.body["problems"]}
    assert "/data/alertContext/properties" in pointers  # trackingId is required there


def test_storage_failure_answers_503_so_the_action_group_retries() -> None:
    queue = InMemoryQueuePublisher()
    queue.fail_with = ConnectionError("storage down")
    response = ingestor(queue).handle(IngestRequest(body_of(MAINTENANCE), JSON))
    assert response.status == 503
    assert "storage down" not in json.dumps(response.body)


def test_unconfigured_storage_answers_503() -> None:
    response = AlertIngestor.from_settings({}).handle(IngestRequest(body_of(MAINTENANCE), JSON))
    assert response.status == 503


def test_subscription_outside_the_allow_list_is_forbidden() -> None:
    queue = InMemoryQueuePublisher()
    allowed = ingestor(queue, allowed=[SUBSCRIPTION.upper()])
    other = ingestor(queue, allowed=["99999999-9999-4999-8999-999999999999"])
    assert allowed.handle(IngestRequest(body_of(MAINTENANCE), JSON)).status == 202
    answer = other.handle(IngestRequest(body_of(MAINTENANCE), JSON))
    assert answer.status == 403
    assert SUBSCRIPTION in answer.body["message"]


def test_the_same_alert_twice_gets_the_same_event_id() -> None:
    handler = ingestor(InMemoryQueuePublisher())
    first = handler.handle(IngestRequest(body_of(MAINTENANCE), JSON))
    second = handler.handle(IngestRequest(body_of(MAINTENANCE), JSON))
    assert first.body["event_id"] == second.body["event_id"]


TOKEN_CASES = [
    # (id, how the token is made, status)
    ("valid Action Groups token", {}, 202),
    ("no token", None, 401),
    ("expired", {"exp": 1_000_000_000, "iat": 999_999_000, "nbf": 999_999_000}, 401),
    ("other audience", {"aud": "api://someone-else"}, 401),
    ("other issuer", {"iss": "https://login.microsoftonline.com/other/v2.0"}, 401),
    ("signed by a key the tenant does not publish", {"signed_by_other_key": True}, 401),
    (
        "v1 issuer accepted",
        {"iss": "https://sts.windows.net/72f988bf-0000-4000-8000-2d7cd011db47/"},
        202,
    ),
    ("missing role", {"roles": ["SomethingElse"]}, 403),
    ("another app", {"azp": "00000000-0000-0000-0000-000000000001"}, 403),
    (
        "v1 token names the app in appid",
        {"azp": None, "appid": "461e8683-5575-4561-ac7f-899cc907d62a"},
        202,
    ),
]


@pytest.mark.parametrize(
    ("overrides", "status"), [c[1:] for c in TOKEN_CASES], ids=[c[0] for c in TOKEN_CASES]
)
def test_secure_webhook_token_checks(
    entra: EntraStandIn, overrides: dict[str, Any] | None, status: int
) -> None:
    headers = dict(JSON)
    if overrides is not None:
        headers["Authorization"] = f"Bearer {entra.token(**overrides)}"
    response = ingestor(InMemoryQueuePublisher(), entra=entra).handle(
        IngestRequest(body_of(MAINTENANCE), headers)
    )
    assert response.status == status, response.body


def test_signing_keys_are_cached_between_requests(entra: EntraStandIn) -> None:
    handler = ingestor(InMemoryQueuePublisher(), entra=entra)
    before = entra.fetches
    for _ in range(5):
        headers = {**JSON, "Authorization": f"Bearer {entra.token()}"}
        assert handler.handle(IngestRequest(body_of(MAINTENANCE), headers)).status == 202
    assert entra.fetches - before == 1


def test_unreachable_key_set_answers_503(entra: EntraStandIn) -> None:
    handler = ingestor(InMemoryQueuePublisher(), entra=entra)
    entra.available = False
    try:
        headers = {**JSON, "Authorization": f"Bearer {entra.token()}"}
        response = handler.handle(IngestRequest(body_of(MAINTENANCE), headers))
    finally:
        entra.available = True
    assert response.status == 503


def test_half_configured_secure_webhook_answers_503_not_500_nor_open() -> None:
    # GIVEN a tenant but no audience WHEN an alert arrives THEN nothing is accepted, and the
    # answer is one the Action Group retries.
    handler = AlertIngestor.from_settings(
        {names.SETTING_SECURE_WEBHOOK_TENANT_ID: "72f988bf-0000-4000-8000-2d7cd011db47"}
    )
    response = handler.handle(IngestRequest(body_of(MAINTENANCE), JSON))
    assert response.status == 503
    assert response.body["error"] == "misconfigured"
