"""`GET /api/health` says when the app has no usable routing file (every event would end in a
poison queue), as the Functions host calls it, with real storage (Azurite)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import azure.functions as func
import pytest

import function_app
from shared import names
from shared.devhost.catalog import functions_of
from shared.health import check_routing
from shared.standins.loganalytics_server import LogAnalyticsStandIn
from shared.standins.stand_in import closed_port
from tests.support.azurite import Azurite

VALID = """\
version: 1
receivers:
  - name: ops
    type: email
    targets: [ops@example.com]
    options: {from: forewarn@example.com, smtp_host: smtp.example.com}
route:
  receivers: [ops]
"""


@pytest.fixture
def storage(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(names.STORAGE_CONNECTION, azurite.connection_string)
    monkeypatch.setenv(names.SETTING_ALERTS_KEY, "health-test-alerts-key")
    return azurite.connection_string


def get_health() -> tuple[int, dict[str, object]]:
    function = functions_of(function_app.app)[names.FUNCTION_HEALTH]
    response = function.get_user_function()(func.HttpRequest("GET", "/api/health", body=b""))
    assert isinstance(response, func.HttpResponse)
    return response.status_code, json.loads(response.get_body())


def test_a_routing_file_that_does_not_exist_is_503_and_named(
    storage: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(names.SETTING_CONFIG, "forewarn.yaml")
    with caplog.at_level(logging.WARNING, logger="forewarn"):
        status, report = get_health()
    assert status == 503
    assert report["routing"] == "missing (FOREWARN_CONFIG=forewarn.yaml)"
    assert report["storage"] == {"queues": "ok", "tables": "ok"}
    assert report["status"] == "degraded"
    assert "missing (FOREWARN_CONFIG=forewarn.yaml)" in caplog.text


def test_no_setting_at_all_is_missing(storage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(names.SETTING_CONFIG, raising=False)
    status, report = get_health()
    assert status == 503
    assert report["routing"] == "missing (FOREWARN_CONFIG is not set)"


def test_an_invalid_routing_file_is_503_with_where_not_what(
    storage: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    routing = tmp_path / "forewarn.yaml"
    # A secret pasted inline: the anonymous health answer must not repeat it.
    routing.write_text(
        VALID.replace("smtp_host: smtp.example.com", "smtp_host: x, password: hunter22-secret"),
        encoding="utf-8",
    )
    monkeypatch.setenv(names.SETTING_CONFIG, str(routing))
    status, report = get_health()
    assert status == 503
    routing_state = str(report["routing"])
    assert routing_state.startswith("invalid (1 problem: line 6 /receivers/0/options/password")
    assert "hunter22" not in json.dumps(report)


def test_a_valid_routing_file_and_storage_are_200(
    storage: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    routing = tmp_path / "forewarn.yaml"
    routing.write_text(VALID, encoding="utf-8")
    monkeypatch.setenv(names.SETTING_CONFIG, str(routing))
    status, report = get_health()
    assert (status, report["routing"], report["alerts_key"], report["status"]) == (
        200,
        "ok",
        "ok",
        "ok",
    )


def test_check_routing_reads_a_relative_path_from_the_app_root(tmp_path: Path) -> None:
    (tmp_path / "forewarn.yaml").write_text(VALID, encoding="utf-8")
    assert check_routing({names.SETTING_CONFIG: "forewarn.yaml"}, root=tmp_path) == "ok"


SECRETS = """\
version: 1
receivers:
  - name: ops
    type: email
    targets: [ops@example.com]
    options:
      from: forewarn@example.com
      smtp_host: smtp.example.com
      username: forewarn
      password_setting: FOREWARN_SMTP_PASSWORD
  - name: chat
    type: slack
    targets: ["#ops"]
    options: {token_setting: FOREWARN_SLACK_BOT_TOKEN}
  - name: hook
    type: webhook
    targets: [https://hooks.example.net/forewarn]
    options: {secret_setting: FOREWARN_WEBHOOK_SIGNING_SECRET}
route:
  receivers: [ops, chat, hook]
"""


@pytest.mark.parametrize(
    ("environ", "expected", "status"),
    [
        # GIVEN every secret the routing file names is set
        (
            {
                "FOREWARN_SMTP_PASSWORD": "smtp-value-123",
                "FOREWARN_SLACK_BOT_TOKEN": "xoxb-value-456",
                "FOREWARN_WEBHOOK_SIGNING_SECRET": "signing-value-789",
            },
            {
                "FOREWARN_SMTP_PASSWORD": "set",
                "FOREWARN_SLACK_BOT_TOKEN": "set",
                "FOREWARN_WEBHOOK_SIGNING_SECRET": "set",
            },
            200,
        ),
        # GIVEN one unset and one Key Vault reference the platform could not resolve (it then
        # hands the app the reference text itself)
        (
            {
                "FOREWARN_SMTP_PASSWORD": "smtp-value-123",
                "FOREWARN_SLACK_BOT_TOKEN": "@Microsoft.KeyVault(SecretUri=https://kv.vault."
                "azure.net/secrets/slack-bot-token)",
            },
            {
                "FOREWARN_SMTP_PASSWORD": "set",
                "FOREWARN_SLACK_BOT_TOKEN": "unresolved Key Vault reference",
                "FOREWARN_WEBHOOK_SIGNING_SECRET": "missing",
            },
            503,
        ),
    ],
)
def test_each_channel_secret_the_routing_file_names_is_set_or_missing_never_its_value(
    storage: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    environ: dict[str, str],
    expected: dict[str, str],
    status: int,
) -> None:
    routing = tmp_path / "forewarn.yaml"
    routing.write_text(SECRETS, encoding="utf-8")
    monkeypatch.setenv(names.SETTING_CONFIG, str(routing))
    for setting in expected:
        monkeypatch.delenv(setting, raising=False)
    for setting, value in environ.items():
        monkeypatch.setenv(setting, value)
    # WHEN the health route is asked
    answered, report = get_health()
    # THEN each reference is named with its state, and no value appears
    assert report["secrets"] == expected
    assert answered == status
    assert report["status"] == ("ok" if status == 200 else "degraded")
    for value in environ.values():
        assert value not in json.dumps(report)


@pytest.mark.parametrize(
    ("workspace", "expected", "status"),
    [
        ("none", "off", 200),  # GIVEN no workspace setting: the feature is off, not broken
        ("stand-in", "reachable", 200),  # GIVEN a workspace that answers
        ("closed", "unreachable (LogsUnavailableError)", 503),  # GIVEN nothing listening
    ],
)
def test_the_log_analytics_workspace_is_off_reachable_or_not(
    storage: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    workspace: str,
    expected: str,
    status: int,
) -> None:
    routing = tmp_path / "forewarn.yaml"
    routing.write_text(VALID, encoding="utf-8")
    monkeypatch.setenv(names.SETTING_CONFIG, str(routing))
    with LogAnalyticsStandIn() as stand_in:
        if workspace != "none":
            endpoint = stand_in.base_url if workspace == "stand-in" else closed_url()
            monkeypatch.setenv(names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, stand_in.workspace_id)
            monkeypatch.setenv(names.SETTING_LOG_ANALYTICS_ENDPOINT, endpoint)
        else:
            monkeypatch.delenv(names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, raising=False)
        # WHEN the health route is asked
        answered, report = get_health()
    # THEN the workspace's state is one word and a reason, and decides the status with the rest
    assert (report["log_analytics"], answered) == (expected, status)


def closed_url() -> str:
    return f"http://127.0.0.1:{closed_port()}"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (None, "on"),  # GIVEN nothing set: Resource Graph first, the default
        ("off", "off"),  # GIVEN turned off
        ("FALSE", "off"),
        ("sometimes", "on"),  # GIVEN neither word: logged and taken as on
    ],
)
def test_resource_graph_is_said_on_or_off_and_either_is_healthy(
    storage: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    setting: str | None,
    expected: str,
) -> None:
    routing = tmp_path / "forewarn.yaml"
    routing.write_text(VALID, encoding="utf-8")
    monkeypatch.setenv(names.SETTING_CONFIG, str(routing))
    monkeypatch.delenv(names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, raising=False)
    if setting is None:
        monkeypatch.delenv(names.SETTING_RESOURCE_GRAPH, raising=False)
    else:
        monkeypatch.setenv(names.SETTING_RESOURCE_GRAPH, setting)
    # WHEN the health route is asked
    answered, report = get_health()
    # THEN the configured state, and no effect on the status
    assert (report["resource_graph"], answered) == (expected, 200)


@pytest.mark.parametrize(
    ("operational", "audit", "expected", "status"),
    [
        (None, None, "90 d, audit 365 d", 200),  # GIVEN nothing set: the defaults
        ("120", "730", "120 d, audit 730 d", 200),
        # GIVEN a value the sweep cannot use: it deletes nothing, and health says why
        ("7", None, "invalid (FOREWARN_RETENTION_DAYS: between 30 and 3650 days, not 7)", 503),
        (None, "a year", "invalid (FOREWARN_AUDIT_RETENTION_DAYS: a whole number", 503),
    ],
)
def test_retention_is_said_and_a_bad_value_is_degraded(
    storage: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    operational: str | None,
    audit: str | None,
    expected: str,
    status: int,
) -> None:
    routing = tmp_path / "forewarn.yaml"
    routing.write_text(VALID, encoding="utf-8")
    monkeypatch.setenv(names.SETTING_CONFIG, str(routing))
    monkeypatch.delenv(names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, raising=False)
    for setting, value in (
        (names.SETTING_RETENTION_DAYS, operational),
        (names.SETTING_AUDIT_RETENTION_DAYS, audit),
    ):
        if value is None:
            monkeypatch.delenv(setting, raising=False)
        else:
            monkeypatch.setenv(setting, value)
    answered, report = get_health()
    assert str(report["retention"]).startswith(expected)
    assert answered == status
