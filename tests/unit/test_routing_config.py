"""The routing file: valid files build, invalid ones report every problem where it is."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from shared.routing.config import (
    ConfigCache,
    ConfigInvalidError,
    ConfigNotFoundError,
    config_path,
    load_config,
    parse_config,
    schema,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"

MINIMAL = """\
version: 1
receivers:
  - name: ops
    type: email
    targets: [ops@example.com]
    options: {from: forewarn@example.com, smtp_host: smtp.example.com}
route:
  receivers: [ops]
"""


def test_the_shipped_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(schema())


def test_the_example_file_is_valid_and_names_secrets_only_by_setting() -> None:
    config = load_config(EXAMPLE)
    assert {receiver.type for receiver in config.receivers.values()} == {
        "email",
        "sms",
        "slack",
        "teams",
        "webhook",
        "pagerduty",
    }
    # The PagerDuty receiver takes the production Slack receiver's escalations only.
    assert config.escalations["prod-slack"].to == "oncall-pagerduty"
    for receiver in config.receivers.values():
        secret_keys = [
            key for key in receiver.options if any(w in key for w in ("password", "token", "key"))
        ]
        assert all(key.endswith("_setting") for key in secret_keys), receiver.name
        for key, value in receiver.options.items():
            if key.endswith("_setting"):
                assert value.isupper() and "/" not in value, (receiver.name, key)
    assert config.warnings == ()


def test_defaults_fill_receivers_that_do_not_say() -> None:
    text = MINIMAL.replace(
        "version: 1\n", "version: 1\ndefaults: {timezone: Asia/Tokyo, language: de}\n"
    )
    receiver = parse_config(text).receiver("ops")
    assert (receiver.timezone, receiver.language) == ("Asia/Tokyo", "de")


def test_child_routes_inherit_receivers_and_keep_file_order() -> None:
    text = MINIMAL + textwrap.indent(
        textwrap.dedent(
            """\
            routes:
              - name: first
                match: {regions: [eastus]}
              - match: {stages: [Planned]}
                receivers: [ops]
                continue: true
            """
        ),
        "  ",
    )
    root = parse_config(text).root
    assert [child.label for child in root.routes] == ["first", "/route/routes/1"]
    assert root.routes[0].receivers == ("ops",)
    assert root.routes[1].continue_matching is True


# GIVEN a routing file with one mistake, WHEN it is validated, THEN the problem is reported at
# its JSON pointer and YAML line, with a message that says what to do.
INVALID = [
    pytest.param(
        MINIMAL.replace("type: email", "type: pager"),
        "/receivers/0/type",
        4,
        "is not one of",
        id="unknown-receiver-type",
    ),
    pytest.param(
        MINIMAL.replace("ops@example.com", "not-an-address"),
        "/receivers/0/targets/0",
        5,
        "must be an email address",
        id="bad-email-target",
    ),
    pytest.param(
        MINIMAL.replace("smtp_host: smtp.example.com", "smtp_host: h, password: hunter2"),
        "/receivers/0/options/password",
        6,
        "password_setting",
        id="inline-password",
    ),
    pytest.param(
        MINIMAL.replace("type: email", "timezone: Mars/Olympus\n    type: email"),
        "/receivers/0/timezone",
        4,
        "IANA",
        id="unknown-time-zone",
    ),
    pytest.param(
        MINIMAL.replace("receivers: [ops]\n", "receivers: [nobody]\n"),
        "/route/receivers/0",
        8,
        "no receiver named 'nobody'",
        id="route-to-missing-receiver",
    ),
    pytest.param(
        MINIMAL + "  match: {stages: [Planned]}\n",
        "/route",
        7,
        "default route",
        id="root-route-with-matchers",
    ),
    pytest.param(
        MINIMAL + "  routes:\n    - match: {window_opens_within: soon}\n",
        "/route/routes/0/match/window_opens_within",
        10,
        "duration",
        id="bad-duration",
    ),
    pytest.param(
        MINIMAL + "  routes:\n    - match: {colour: red}\n",
        "/route/routes/0/match/colour",
        10,
        "unknown key 'colour'",
        id="unknown-matcher",
    ),
    pytest.param(
        MINIMAL + "  routes:\n    - match: {subscriptions: [prod]}\n",
        "/route/routes/0/match/subscriptions/0",
        10,
        "GUID",
        id="subscription-not-a-guid",
    ),
    pytest.param(
        MINIMAL.replace("type: email", "type: email\n    type: sms"),
        "/receivers/0/type",
        5,
        "duplicate key",
        id="duplicate-yaml-key",
    ),
    pytest.param(
        MINIMAL + "  - name: chat\n",
        "",
        9,
        "not valid YAML",
        id="yaml-syntax",
    ),
    pytest.param(
        MINIMAL.replace(
            "receivers:\n  - name: ops",
            "receivers:\n  - name: chat\n    type: slack\n    options:\n"
            "      webhook_url_setting: https://hooks.slack.com/services/T0/B0/x\n  - name: ops",
        ),
        "/receivers/0/options/webhook_url_setting",
        6,
        "Slack webhook URL",
        id="inline-slack-url",
    ),
    pytest.param(
        MINIMAL.replace(
            "receivers:\n  - name: ops",
            "receivers:\n  - name: hook\n    type: webhook\n    targets: "
            "['https://example.com/h?code=abc']\n    options: {secret_setting: S}\n  - name: ops",
        ),
        "/receivers/0/targets/0",
        5,
        "URL with a credential",
        id="webhook-url-with-credential",
    ),
    pytest.param(
        MINIMAL.replace(
            "receivers:\n  - name: ops",
            "receivers:\n  - name: phone\n    type: sms\n    targets: ['+15551234567']\n"
            "    quiet_hours: {start: '22:00', end: '22:00'}\n"
            "    options: {account_sid: AC1, auth_token_setting: T, from: '+15005550006'}\n"
            "  - name: ops",
        ),
        "/receivers/0/quiet_hours",
        6,
        "equal",
        id="empty-quiet-hours",
    ),
    pytest.param("", "", 1, "empty", id="empty-file"),
]


@pytest.mark.parametrize(("text", "pointer", "line", "message"), INVALID)
def test_each_problem_is_reported_with_its_location(
    text: str, pointer: str, line: int, message: str
) -> None:
    with pytest.raises(ConfigInvalidError) as raised:
        parse_config(text, "routing.yaml")
    found = [(p.pointer, p.line, p.message) for p in raised.value.problems]
    assert any(p == pointer and ln == line and message in msg for p, ln, msg in found), found


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = (
        MINIMAL.replace("ops@example.com", "nope")
        .replace("type: email", "timezone: Nowhere/Else\n    type: email")
        .replace("receivers: [ops]\n", "receivers: [ghost]\n")
    )
    with pytest.raises(ConfigInvalidError) as raised:
        parse_config(text, "routing.yaml")
    pointers = {problem.pointer for problem in raised.value.problems}
    assert {"/receivers/0/targets/0", "/receivers/0/timezone", "/route/receivers/0"} <= pointers
    rendered = raised.value.problems[0].render("routing.yaml")
    assert rendered.startswith("routing.yaml:")


def test_a_setting_naming_no_file_is_its_own_error() -> None:
    with pytest.raises(ConfigNotFoundError):
        config_path({})
    with pytest.raises(ConfigNotFoundError):
        load_config("/nonexistent/forewarn/routing.yaml")


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    # A distinct mtime even on filesystems with coarse timestamps.
    stamp = time.time() + (hash(text) % 1000)
    os.utime(path, (stamp, stamp))


def test_the_cache_reloads_on_change_and_never_half_applies_an_invalid_edit(tmp_path: Path) -> None:
    # GIVEN a valid file loaded once
    path = tmp_path / "routing.yaml"
    _write(path, MINIMAL)
    cache = ConfigCache()
    first = cache.get(str(path))
    assert cache.get(str(path)) is first
    # WHEN it is edited validly THEN the new one applies
    _write(path, MINIMAL.replace("ops@example.com", "oncall@example.com"))
    second = cache.get(str(path))
    assert second.receiver("ops").targets == ["oncall@example.com"]
    # WHEN it is edited into an invalid state THEN the last valid config stays in force
    _write(path, MINIMAL.replace("receivers: [ops]\n", "receivers: [ghost]\n"))
    assert cache.get(str(path)) is second
    # AND a fresh process (no valid config yet) refuses it
    with pytest.raises(ConfigInvalidError):
        ConfigCache().get(str(path))
