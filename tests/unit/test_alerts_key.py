"""The alerts key: the one secret that opens ``POST /api/alerts`` and nothing else.

It is the app's own key (not a platform function or host key), so it is checked the same way
on the Functions host and on ``forewarn serve``; during a rotation the previous key is still
accepted, and a Key Vault reference that did not resolve is never taken for a key.
"""

from __future__ import annotations

import pytest

from shared import names
from shared.auth import AlertsKeyProblem, AlertsKeys

CURRENT = "k3y-current-0123456789abcdef"
PREVIOUS = "k3y-previous-fedcba9876543210"
NOT_RESOLVED = "is a Key Vault reference that did not resolve"
UNRESOLVED = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/alerts-key/)"


@pytest.mark.parametrize(
    ("settings", "given", "accepted"),
    [
        # GIVEN the settings                                     WHEN posted with  THEN
        ({names.SETTING_ALERTS_KEY: CURRENT}, CURRENT, True),
        ({names.SETTING_ALERTS_KEY: CURRENT}, PREVIOUS, False),
        ({names.SETTING_ALERTS_KEY: CURRENT}, "", False),
        ({names.SETTING_ALERTS_KEY: CURRENT}, CURRENT[:-1], False),
        ({names.SETTING_ALERTS_KEY: CURRENT}, CURRENT + "x", False),
        ({names.SETTING_ALERTS_KEY: CURRENT}, CURRENT.upper(), False),
        (
            {names.SETTING_ALERTS_KEY: CURRENT, names.SETTING_ALERTS_KEY_PREVIOUS: PREVIOUS},
            PREVIOUS,
            True,
        ),
        (
            {names.SETTING_ALERTS_KEY: CURRENT, names.SETTING_ALERTS_KEY_PREVIOUS: PREVIOUS},
            CURRENT,
            True,
        ),
        ({names.SETTING_ALERTS_KEY: CURRENT, names.SETTING_ALERTS_KEY_PREVIOUS: ""}, "", False),
        # An unresolved Key Vault reference stays in the setting as text: never a key.
        (
            {names.SETTING_ALERTS_KEY: CURRENT, names.SETTING_ALERTS_KEY_PREVIOUS: UNRESOLVED},
            UNRESOLVED,
            False,
        ),
        ({names.SETTING_ALERTS_KEY: UNRESOLVED}, UNRESOLVED, False),
        ({}, "", False),
        ({}, "anything", False),
    ],
)
def test_which_keys_open_the_alerts_route(
    settings: dict[str, str], given: str, accepted: bool
) -> None:
    assert AlertsKeys.from_settings(settings).accepts(given) is accepted


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({names.SETTING_ALERTS_KEY: CURRENT}, None),
        ({}, f"missing ({names.SETTING_ALERTS_KEY} is not set)"),
        ({names.SETTING_ALERTS_KEY: "  "}, f"missing ({names.SETTING_ALERTS_KEY} is not set)"),
        (
            {names.SETTING_ALERTS_KEY: UNRESOLVED},
            f"unresolved ({names.SETTING_ALERTS_KEY} {NOT_RESOLVED})",
        ),
        (
            {names.SETTING_ALERTS_KEY: "s3cr3t"},
            f"too short ({names.SETTING_ALERTS_KEY} needs 12 characters or more)",
        ),
        (
            {names.SETTING_ALERTS_KEY: CURRENT, names.SETTING_ALERTS_KEY_PREVIOUS: UNRESOLVED},
            f"unresolved ({names.SETTING_ALERTS_KEY_PREVIOUS} {NOT_RESOLVED})",
        ),
    ],
)
def test_a_key_that_cannot_be_used_is_named_without_its_value(
    settings: dict[str, str], problem: str | None
) -> None:
    keys = AlertsKeys.from_settings(settings)
    assert keys.problem == problem
    if problem is not None:
        for value in settings.values():
            if value.strip() and not value.startswith("@Microsoft.KeyVault"):
                assert value not in problem


def test_the_key_comes_from_the_query_or_the_header_as_function_keys_do() -> None:
    keys = AlertsKeys.from_settings({names.SETTING_ALERTS_KEY: CURRENT})
    assert keys.accepts_request({"code": CURRENT}, {}) is True
    assert keys.accepts_request({}, {"X-Functions-Key": CURRENT}) is True
    assert keys.accepts_request({}, {"x-functions-key": CURRENT}) is True
    assert keys.accepts_request({"code": "wrong"}, {"x-functions-key": CURRENT}) is False
    assert keys.accepts_request({}, {}) is False


def test_the_problem_type_is_a_named_error() -> None:
    with pytest.raises(AlertsKeyProblem):
        AlertsKeys.from_settings({}).require()
    AlertsKeys.from_settings({names.SETTING_ALERTS_KEY: CURRENT}).require()
