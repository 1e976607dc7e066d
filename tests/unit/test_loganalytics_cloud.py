"""The Log Analytics query endpoint follows the ARM endpoint's cloud unless it is set.

GIVEN FOREWARN_ARM_ENDPOINT (the Bicep sets it from environment().resourceManager) and
      perhaps FOREWARN_LOG_ANALYTICS_ENDPOINT
WHEN  the catch-up and the quietest hour read their settings
THEN  they query the Log Analytics API of the same cloud (Azure Monitor's query endpoints per
      cloud: api.loganalytics.io, api.loganalytics.us, api.loganalytics.azure.cn); a set
      endpoint wins; an ARM endpoint of no known cloud keeps the public one and says which
      setting to set.
"""

from __future__ import annotations

import logging

import pytest

from shared import names
from shared.loganalytics.client import LogsSettings

CASES = [
    # ARM endpoint                          , set endpoint                 , expected
    (None, None, "https://api.loganalytics.io"),
    ("https://management.azure.com/", None, "https://api.loganalytics.io"),
    ("https://management.usgovcloudapi.net/", None, "https://api.loganalytics.us"),
    ("https://management.chinacloudapi.cn", None, "https://api.loganalytics.azure.cn"),
    ("https://MANAGEMENT.usgovcloudapi.net", None, "https://api.loganalytics.us"),
    ("https://management.usgovcloudapi.net/", "http://127.0.0.1:9/", "http://127.0.0.1:9"),
    ("https://management.azure.com/", "https://api.loganalytics.us", "https://api.loganalytics.us"),
]


@pytest.mark.parametrize(("arm", "given", "expected"), CASES)
def test_the_query_endpoint_is_the_arm_endpoints_cloud(
    arm: str | None, given: str | None, expected: str
) -> None:
    environ = {names.SETTING_LOG_ANALYTICS_WORKSPACE_ID: "ws"}
    if arm is not None:
        environ[names.SETTING_ARM_ENDPOINT] = arm
    if given is not None:
        environ[names.SETTING_LOG_ANALYTICS_ENDPOINT] = given
    settings = LogsSettings.from_settings(environ)
    assert settings is not None
    assert settings.endpoint == expected


def test_an_unknown_cloud_keeps_the_public_endpoint_and_says_which_setting_to_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    environ = {
        names.SETTING_LOG_ANALYTICS_WORKSPACE_ID: "ws",
        names.SETTING_ARM_ENDPOINT: "https://management.local.azurestack.external/",
    }
    with caplog.at_level(logging.WARNING):
        settings = LogsSettings.from_settings(environ)
    assert settings is not None
    assert settings.endpoint == "https://api.loganalytics.io"
    (record,) = [r for r in caplog.records if names.SETTING_LOG_ANALYTICS_ENDPOINT in r.message]
    assert "management.local.azurestack.external" in record.message


def test_a_loopback_arm_endpoint_is_no_cloud_to_warn_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The local stand-in ARM: the stand-in workspace sets its own endpoint; nothing to say.
    environ = {
        names.SETTING_LOG_ANALYTICS_WORKSPACE_ID: "ws",
        names.SETTING_ARM_ENDPOINT: "http://127.0.0.1:7072",
    }
    with caplog.at_level(logging.WARNING):
        LogsSettings.from_settings(environ)
    assert not caplog.records
