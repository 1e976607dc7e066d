"""`forewarn config validate` rejects every option value a channel's sender would reject.

For each channel: the options its sender reads are recorded while it sends (a receiver whose
options mapping remembers every key asked for), every one of them must be known to the
validator, and each value in ``REJECTED`` is shown to be refused by the real sender (a
permanent result) *and* by ``forewarn config validate``. A sender that learns a new option or a
new refusal without the validator learning it fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.channels import default_senders
from shared.channels.options import KNOWN_OPTIONS
from shared.cli import main
from shared.models import DeliveryJob, Receiver, RenderedMessage
from shared.routing.config import ConfigInvalidError, parse_config
from shared.standins.stand_in import closed_port

# The settings a valid receiver names, with values, so that senders get as far as the network.
ENVIRON = {
    "T_PASSWORD": "pw-123456",
    "T_TOKEN": "tok-123456",
    "T_URL": f"http://127.0.0.1:{closed_port()}/hook",
    "T_SECRET": "secret-123456",
}
DEAD = f"http://127.0.0.1:{closed_port()}"

# Valid receivers, one per mode a sender has (each mode reads different options).
VALID: list[dict[str, Any]] = [
    {
        "type": "email",
        "targets": ["ops@example.com"],
        "options": {
            "smtp_host": "127.0.0.1",
            "smtp_port": str(closed_port()),
            "tls": "starttls",
            "username": "forewarn",
            "password_setting": "T_PASSWORD",
            "from": "forewarn@example.com",
            "ehlo_name": "forewarn.test",
            "timeout": "1",
        },
    },
    {
        "type": "sms",
        "targets": ["+15551230001"],
        "options": {
            "account_sid": "AC123",
            "auth_token_setting": "T_TOKEN",
            "from": "+15005550006",
            "api_base": DEAD,
            "timeout": "1",
        },
    },
    {
        "type": "sms",
        "targets": ["+15551230001"],
        "options": {
            "account_sid": "AC123",
            "auth_token_setting": "T_TOKEN",
            "messaging_service_sid": "MG123",
            "api_base": DEAD,
            "timeout": "1",
        },
    },
    {
        "type": "slack",
        "targets": ["C0123"],
        "options": {"token_setting": "T_TOKEN", "api_base": DEAD, "timeout": "1"},
    },
    {"type": "slack", "targets": [], "options": {"webhook_url_setting": "T_URL", "timeout": "1"}},
    {"type": "teams", "targets": [], "options": {"webhook_url_setting": "T_URL", "timeout": "1"}},
    {
        "type": "webhook",
        "targets": [f"{DEAD}/hook"],
        "options": {"secret_setting": "T_SECRET", "timeout": "1"},
    },
    {"type": "webhook", "targets": [], "options": {"secret_setting": "T_SECRET", "url": DEAD}},
    {
        "type": "pagerduty",
        "targets": [],
        "options": {"routing_key_setting": "T_TOKEN", "api_base": DEAD, "timeout": "1"},
    },
]

# (mode index in VALID, option, a value the sender refuses). Documented spellings that the
# sender never accepted (tls: ssl / none) are here on purpose.
REJECTED: list[tuple[int, str, str]] = [
    (0, "tls", "ssl"),
    (0, "tls", "none"),
    (0, "tls", "true"),
    (0, "tls", "off"),  # with username and password: credentials over plain SMTP are refused
    (0, "smtp_port", "submission"),
    (0, "smtp_port", "70000"),
    (0, "ca_file", "no-such-ca.pem"),
    (0, "timeout", "0"),
    (0, "timeout", "soon"),
    (1, "api_base", "api.twilio.com"),
    (1, "timeout", "-5"),
    (3, "api_base", "slack.com/api"),
    (3, "timeout", "never"),
    (5, "timeout", "0"),
    (6, "timeout", "-1"),
    (7, "url", "cmdb.example.com/hook"),
    (8, "api_base", "events.pagerduty.com"),
    (8, "timeout", "0"),
]


class RecordingOptions(dict[str, str]):
    """A receiver's options that remember every key a sender asked about."""

    def __init__(self, values: dict[str, str], asked: set[str]) -> None:
        super().__init__(values)
        self._asked = asked

    def __contains__(self, key: object) -> bool:
        self._asked.add(str(key))
        return super().__contains__(key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self._asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self._asked.add(key)
        return super().__getitem__(key)


def job_for(receiver: Receiver) -> DeliveryJob:
    message = RenderedMessage(
        channel=receiver.type,
        subject="Maintenance planned",
        text="web-01: self-service window open",
        html=None,
        # A Slack, webhook and PagerDuty sender each find what they send in it.
        payload={
            "version": 1,
            "blocks": [],
            "events": [{"event_action": "resolve", "dedup_key": "forewarn-1"}],
        },
    )
    return DeliveryJob("evt-1:r", "evt-1", receiver, message, "2025-01-01T00:00:00+00:00")


def send(spec: dict[str, Any], options: dict[str, str] | None = None) -> Any:
    receiver = Receiver(
        name="r",
        type=spec["type"],
        targets=list(spec["targets"]),
        options=options if options is not None else dict(spec["options"]),
    )
    return default_senders(ENVIRON)[spec["type"]].send(job_for(receiver))


def routing_file(spec: dict[str, Any], options: dict[str, str]) -> str:
    receiver: dict[str, Any] = {"name": "r", "type": spec["type"], "options": options}
    if spec["targets"]:
        receiver["targets"] = spec["targets"]
    return yaml.safe_dump({"version": 1, "receivers": [receiver], "route": {"receivers": ["r"]}})


@pytest.mark.parametrize("index", range(len(VALID)))
def test_every_option_a_sender_reads_is_known_to_the_validator(index: int) -> None:
    spec = VALID[index]
    asked: set[str] = set()
    result = send(spec, RecordingOptions(dict(spec["options"]), asked))
    # The valid receiver got as far as the network (a closed port): no option was refused.
    assert result.outcome == "retry", result.reason
    read = {key.removesuffix("_setting") for key in asked}
    assert read <= KNOWN_OPTIONS[spec["type"]], read - KNOWN_OPTIONS[spec["type"]]
    parse_config(routing_file(spec, dict(spec["options"])))  # and the validator accepts it


@pytest.mark.parametrize(
    ("index", "key", "value"), REJECTED, ids=[f"{VALID[i]['type']}-{k}={v}" for i, k, v in REJECTED]
)
def test_a_value_the_sender_refuses_is_refused_by_config_validate(
    index: int, key: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = VALID[index]
    options = {**spec["options"], key: value}

    result = send(spec, options)
    assert result.outcome == "permanent", (key, value, result)

    with pytest.raises(ConfigInvalidError) as raised:
        parse_config(routing_file(spec, options))
    pointers = [problem.pointer for problem in raised.value.problems]
    assert f"/receivers/0/options/{key}" in pointers, raised.value.problems

    path = tmp_path / "routing.yaml"
    path.write_text(routing_file(spec, options), encoding="utf-8")
    assert main(["config", "validate", str(path)]) == 2
    assert f"/options/{key}" in capsys.readouterr().err


def test_every_checked_option_has_a_refused_value_here() -> None:
    """An option the validator checks is exercised above (so its check is shown to matter)."""
    from shared.channels.options import CHECKED_OPTIONS

    exercised = {(VALID[index]["type"], key) for index, key, _ in REJECTED}
    declared = {(channel, key) for channel, keys in CHECKED_OPTIONS.items() for key in keys}
    assert declared <= exercised, declared - exercised


def test_an_unknown_option_is_a_warning_naming_the_known_ones() -> None:
    spec = VALID[0]
    config = parse_config(routing_file(spec, {**spec["options"], "tsl": "starttls"}))
    (warning,) = config.warnings
    assert "'tsl'" in warning and "tls" in warning
