"""The HTTP functions as the Functions host calls them: through ``get_user_function()``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import azure.functions as func
import pytest

import function_app
from functions import ingest
from shared import names
from shared.devhost.catalog import functions_of
from tests.conftest import FIXTURES
from tests.support.azurite import Azurite
from tests.support.wave_setup import take_messages

MAINTENANCE = (FIXTURES / "forewarn" / "common-servicehealth-maintenance-planned.json").read_bytes()
KEY = "functional-alerts-key-0001"
PREVIOUS_KEY = "functional-alerts-key-0000"


@pytest.fixture
def storage(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(names.STORAGE_CONNECTION, azurite.connection_string)
    monkeypatch.setenv(names.SETTING_ALERTS_KEY, KEY)
    ingest._ingestor.cache_clear()
    yield azurite.connection_string
    ingest._ingestor.cache_clear()


def call(name: str, request: func.HttpRequest) -> func.HttpResponse:
    function = functions_of(function_app.app)[name]
    response = function.get_user_function()(request)
    assert isinstance(response, func.HttpResponse)
    return response


def post(
    body: bytes,
    content_type: str = "application/json",
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpRequest:
    return func.HttpRequest(
        method="POST",
        url="/api/alerts",
        headers={"Content-Type": content_type, **(headers or {})},
        params={"code": KEY} if params is None else params,
        body=body,
    )


def test_bindings_are_what_the_action_group_and_host_expect() -> None:
    functions = functions_of(function_app.app)
    alerts = json.loads(functions[names.FUNCTION_INGEST].get_function_json())
    trigger = alerts["bindings"][0]
    assert (trigger["type"], trigger["route"], trigger["methods"], trigger["authLevel"]) == (
        "httpTrigger",
        "alerts",
        ["POST"],
        # The app checks its own alerts key: a platform key would open every function.
        "ANONYMOUS",
    )
    health = json.loads(functions[names.FUNCTION_HEALTH].get_function_json())
    assert health["bindings"][0]["authLevel"] == "ANONYMOUS"


def test_accepted_alert_is_on_the_queue_as_the_queue_trigger_expects(storage: str) -> None:
    response = call(names.FUNCTION_INGEST, post(MAINTENANCE))
    assert response.status_code == 202
    event_id = json.loads(response.get_body())["event_id"]
    # Only this test's message: other tests' may be ahead of it, more than a read returns.
    found = take_messages(
        storage, names.QUEUE_EVENTS, lambda text: bool(json.loads(text)["id"] == event_id)
    )
    assert found  # other tests post the same alert: its id may be there more than once


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [(b"{", "application/json", 400), (MAINTENANCE, "text/plain", 415)],
    ids=["broken JSON", "wrong content type"],
)
def test_rejections_through_the_function(
    storage: str, body: bytes, content_type: str, status: int
) -> None:
    response = call(names.FUNCTION_INGEST, post(body, content_type))
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert json.loads(response.get_body())["message"]


def test_health_is_503_when_storage_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    # A port nothing listens on: the probe fails fast and says which part.
    monkeypatch.setenv(
        names.STORAGE_CONNECTION,
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
        "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;",
    )
    response = call(names.FUNCTION_HEALTH, func.HttpRequest("GET", "/api/health", body=b""))
    assert response.status_code == 503
    report = json.loads(response.get_body())
    assert report["status"] == "degraded"
    assert report["storage"]["queues"].startswith("unreachable")


@pytest.mark.parametrize(
    ("params", "headers", "body", "status", "error"),
    [
        # GIVEN the key sent as                WHEN the body is  THEN
        ({"code": KEY}, {}, MAINTENANCE, 202, None),
        ({}, {"x-functions-key": KEY}, MAINTENANCE, 202, None),
        ({"code": PREVIOUS_KEY}, {}, MAINTENANCE, 202, None),
        ({}, {}, MAINTENANCE, 401, "unauthorized"),
        ({"code": "wrong-key-of-some-length"}, {}, MAINTENANCE, 401, "unauthorized"),
        ({"code": ""}, {"x-functions-key": KEY}, MAINTENANCE, 401, "unauthorized"),
        # The key is checked before the body is looked at: a stranger learns nothing of it.
        ({}, {}, b"{", 401, "unauthorized"),
        ({}, {"Authorization": "Bearer x"}, MAINTENANCE, 401, "unauthorized"),
    ],
    ids=[
        "key in ?code",
        "key in header",
        "previous key during a rotation",
        "no key",
        "wrong key",
        "empty code wins over the header, as on the Functions host",
        "broken body without key",
        "a bearer token is no key",
    ],
)
def test_only_the_alerts_key_opens_the_alerts_route(
    storage: str,
    monkeypatch: pytest.MonkeyPatch,
    params: dict[str, str],
    headers: dict[str, str],
    body: bytes,
    status: int,
    error: str | None,
) -> None:
    monkeypatch.setenv(names.SETTING_ALERTS_KEY_PREVIOUS, PREVIOUS_KEY)
    ingest._ingestor.cache_clear()
    response = call(names.FUNCTION_INGEST, post(body, params=params, headers=headers))
    assert response.status_code == status
    answer = json.loads(response.get_body())
    assert answer.get("error") == error
    assert KEY not in response.get_body().decode()


@pytest.mark.parametrize(
    ("value", "state"),
    [
        (None, "missing"),
        (
            "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/alerts-key/)",
            "unresolved",
        ),
        ("s3cr3t", "too short"),
    ],
)
def test_without_a_usable_key_every_alert_is_refused_with_503_and_health_says_why(
    storage: str, monkeypatch: pytest.MonkeyPatch, value: str | None, state: str
) -> None:
    # GIVEN no usable alerts key
    if value is None:
        monkeypatch.delenv(names.SETTING_ALERTS_KEY)
    else:
        monkeypatch.setenv(names.SETTING_ALERTS_KEY, value)
    ingest._ingestor.cache_clear()
    # WHEN an alert comes, with or without the reference text as its key
    for params in ({}, {"code": value or ""}):
        response = call(names.FUNCTION_INGEST, post(MAINTENANCE, params=params))
        # THEN it is refused for the Action Group to retry, and nothing says the value
        assert response.status_code == 503
        assert json.loads(response.get_body())["error"] == "misconfigured"
    health = call(names.FUNCTION_HEALTH, func.HttpRequest("GET", "/api/health", body=b""))
    assert health.status_code == 503
    report = json.loads(health.get_body())
    assert report["alerts_key"].startswith(state)
    assert names.SETTING_ALERTS_KEY in report["alerts_key"]
    if value is not None:
        assert value not in health.get_body().decode()
