"""One contract, every channel: the real client against its stand-in, case by case.

GIVEN a stand-in scripted to behave one way (succeed, fail with a status, hang, be closed),
WHEN the channel's sender sends one job,
THEN the result says delivered / retry / permanent as the one retry rule says, honours
Retry-After where the protocol has it, leaks no secret or target, and the stand-in received
exactly what was sent (or nothing). An SMS receiver's numbers are sent through one Twilio
client, one HTTP session (issue 18).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from shared.channels import ChannelSender, DeliveryResult, default_senders, mask_target
from shared.channels.email import header_text
from shared.models import ChannelName, DeliveryJob, Receiver, RenderedMessage
from shared.standins.sinks import (
    SETTING_SLACK_TOKEN,
    SETTING_SLACK_WEBHOOK_URL,
    SETTING_SMTP_PASSWORD,
    SETTING_TEAMS_URL,
    SETTING_TWILIO_TOKEN,
    SETTING_WEBHOOK_SECRET,
    LocalSinks,
)
from shared.standins.smtp_server import SMTP_REPLIES
from shared.standins.stand_in import Failure, Script, closed_port

pytestmark = pytest.mark.integration

CLIENT_TIMEOUT = "0.5"
HANG_SECONDS = 3.0

HOSTILE_SUBJECT = "Planned maintenance\r\nBcc: victim@example.org — Größe <script>x</script>"
HOSTILE_TEXT = "<!channel> @here <script>alert(1)</script>\r\nBcc: victim@example.org\n✓ 02:00"


# --------------------------------------------------------------------------------------
# How to drive each channel


@dataclass(frozen=True)
class Harness:
    id: str
    channel: ChannelName
    script: Callable[[LocalSinks], Script]
    arrivals: Callable[[LocalSinks], list[Any]]
    requests: Callable[[LocalSinks], int]  # requests that reached the stand-in at all
    receiver: Callable[[LocalSinks], Receiver]
    closed: Callable[[LocalSinks, Receiver, int], tuple[Receiver, dict[str, str]]]
    has_retry_after: bool = True

    def expected_status(self, scripted: int) -> int:
        return int(SMTP_REPLIES[scripted][:3]) if self.channel == "email" else scripted


def _one_target(sinks: LocalSinks, channel: ChannelName) -> Receiver:
    receiver = sinks.receiver(channel)
    options = {**receiver.options, "timeout": CLIENT_TIMEOUT}
    return replace(receiver, targets=receiver.targets[:1], options=options)


def _with_option(key: str, value: Callable[[int], str]) -> Callable[..., Any]:
    def closed(sinks: LocalSinks, receiver: Receiver, port: int) -> tuple[Receiver, dict[str, str]]:
        return replace(receiver, options={**receiver.options, key: value(port)}), sinks.environ

    return closed


def _with_setting(setting: str, value: Callable[[int], str]) -> Callable[..., Any]:
    def closed(sinks: LocalSinks, receiver: Receiver, port: int) -> tuple[Receiver, dict[str, str]]:
        return receiver, {**sinks.environ, setting: value(port)}

    return closed


def _webhook_closed(
    sinks: LocalSinks, receiver: Receiver, port: int
) -> tuple[Receiver, dict[str, str]]:
    return replace(receiver, targets=[f"http://127.0.0.1:{port}/hooks"]), sinks.environ


HARNESSES = [
    Harness(
        "email",
        "email",
        lambda s: s.smtp.script,
        lambda s: s.smtp.mails,
        lambda s: len(s.smtp.mails),
        lambda s: _one_target(s, "email"),
        _with_option("smtp_port", str),
        has_retry_after=False,
    ),
    Harness(
        "sms",
        "sms",
        lambda s: s.twilio.script,
        lambda s: s.twilio.messages,
        lambda s: len(s.twilio.requests),
        lambda s: _one_target(s, "sms"),
        _with_option("api_base", lambda port: f"http://127.0.0.1:{port}"),
    ),
    Harness(
        "slack-api",
        "slack",
        lambda s: s.slack.script,
        lambda s: s.slack.messages,
        lambda s: len(s.slack.requests),
        lambda s: _one_target(s, "slack"),
        _with_option("api_base", lambda port: f"http://127.0.0.1:{port}/api"),
    ),
    Harness(
        "slack-webhook",
        "slack",
        lambda s: s.slack.script,
        lambda s: s.slack.messages,
        lambda s: len(s.slack.requests),
        lambda s: replace(
            s.receiver("slack"),
            targets=[],
            options={**s.slack_webhook_options, "timeout": CLIENT_TIMEOUT},
        ),
        _with_setting(
            SETTING_SLACK_WEBHOOK_URL, lambda port: f"http://127.0.0.1:{port}/services/x"
        ),
    ),
    Harness(
        "teams",
        "teams",
        lambda s: s.teams.script,
        lambda s: s.teams.cards,
        lambda s: len(s.teams.requests),
        lambda s: _one_target(s, "teams"),
        _with_setting(SETTING_TEAMS_URL, lambda port: f"http://127.0.0.1:{port}/workflows/x"),
    ),
    Harness(
        "webhook",
        "webhook",
        lambda s: s.webhook.script,
        lambda s: s.webhook.deliveries,
        lambda s: len(s.webhook.requests),
        lambda s: _one_target(s, "webhook"),
        _webhook_closed,
    ),
]


def message(channel: ChannelName, subject: str, text: str, *, size: int = 0) -> RenderedMessage:
    """A rendered message of the channel's shape; ``size`` pads it beyond the channel's limit."""
    padding = "x" * size
    if channel == "teams":
        card = {
            "type": "AdaptiveCard",
            "version": "1.5",
            "body": [
                {"type": "TextBlock", "text": subject, "wrap": True},
                {"type": "TextBlock", "text": text + padding, "wrap": True},
            ],
        }
        return RenderedMessage("teams", subject, text, payload=card)
    if channel == "webhook":
        document = {"version": 1, "title": subject, "text": text, "padding": padding}
        return RenderedMessage("webhook", subject, text, payload=document)
    if channel == "slack":
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        return RenderedMessage("slack", subject, text + padding, payload={"blocks": blocks})
    html = f"<p>{text}</p>" if channel == "email" else None
    return RenderedMessage(channel, subject, text + padding, html=html)


OVERSIZE = {
    "email": 11 * 1024 * 1024,
    "sms": 1600,
    "slack": 40_000,
    "teams": 29 * 1024,
    "webhook": 1100 * 1024,  # above the 1 MiB the renderer and channel allow
}


def job_for(receiver: Receiver, msg: RenderedMessage) -> DeliveryJob:
    return DeliveryJob(
        job_id=f"evt-contract:{receiver.name}",
        event_id="evt-contract",
        receiver=receiver,
        message=msg,
        created_at="2025-03-01T10:00:00Z",
    )


# --------------------------------------------------------------------------------------
# The cases


@dataclass(frozen=True)
class Case:
    id: str
    outcome: str
    status: int | None = None
    retry_after: str | None = None
    kind: str = "status"  # status | success | timeout | refused | oversize | hostile


CASES = [
    Case("success", "delivered", kind="success"),
    *[Case(f"{status}-retry", "retry", status) for status in (408, 500, 502, 503, 504)],
    Case("429-retry-after", "retry", 429, retry_after="7"),
    *[Case(f"{status}-permanent", "permanent", status) for status in (400, 401, 403, 404)],
    Case("timeout", "retry", kind="timeout"),
    Case("connection-refused", "retry", kind="refused"),
    Case("oversize", "permanent", kind="oversize"),
    Case("hostile-text", "delivered", kind="hostile"),
]


@pytest.fixture(scope="module")
def sinks() -> Iterator[LocalSinks]:
    with LocalSinks() as running:
        yield running


@pytest.fixture
def fresh(sinks: LocalSinks) -> Iterator[LocalSinks]:
    sinks.reset()
    yield sinks
    sinks.reset()  # release hanging handlers' scripts before the next case


def sender_for(channel: ChannelName, environ: dict[str, str]) -> ChannelSender:
    return default_senders(environ)[channel]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
@pytest.mark.parametrize("harness", HARNESSES, ids=[harness.id for harness in HARNESSES])
def test_channel_contract(fresh: LocalSinks, harness: Harness, case: Case) -> None:
    # GIVEN
    receiver, environ = harness.receiver(fresh), fresh.environ
    subject, text, size = "Planned maintenance: 2 VMs in westeurope", "Window 02:00–04:00 UTC", 0
    script = harness.script(fresh)
    if case.kind == "status":
        assert case.status is not None
        script.always(Failure(status=case.status, retry_after=case.retry_after))
    elif case.kind == "timeout":
        script.hang(HANG_SECONDS)
    elif case.kind == "refused":
        receiver, environ = harness.closed(fresh, receiver, closed_port())
    elif case.kind == "oversize":
        size = OVERSIZE[harness.channel]
    elif case.kind == "hostile":
        subject, text = HOSTILE_SUBJECT, HOSTILE_TEXT
    job = job_for(receiver, message(harness.channel, subject, text, size=size))

    # WHEN
    result = sender_for(harness.channel, environ).send(job)

    # THEN
    assert result.outcome == case.outcome, result.reason
    if case.kind == "status":
        assert case.status is not None
        assert result.status == harness.expected_status(case.status)
    if case.retry_after is not None:
        assert result.retry_after == (7.0 if harness.has_retry_after else None)
    if case.kind == "timeout":
        assert "timed out" in result.reason
    arrivals = harness.arrivals(fresh)
    assert len(arrivals) == (1 if case.outcome == "delivered" else 0)
    if case.kind == "oversize":
        assert harness.requests(fresh) == 0, "an oversize message must not be sent at all"
    if case.kind == "hostile":
        check_hostile_arrival(harness.channel, job, arrivals[0])
    assert_no_leak(result, job, environ)


def assert_no_leak(result: DeliveryResult, job: DeliveryJob, environ: dict[str, str]) -> None:
    text = f"{result.reason} {result.reference or ''}"
    for secret in environ.values():
        assert secret not in text
    for target in job.receiver.targets:
        if mask_target(target) != target:  # phone numbers, addresses, URLs (not channel ids)
            assert target not in result.reason


def check_hostile_arrival(channel: ChannelName, job: DeliveryJob, arrived: Any) -> None:
    """What arrived is what was sent, in one piece, with nothing smuggled around it."""
    if channel == "email":
        mail: EmailMessage = arrived.message
        assert arrived.rcpt_tos == job.receiver.targets  # no Bcc smuggled into the envelope
        assert mail["Bcc"] is None
        assert str(mail["Subject"]) == header_text(HOSTILE_SUBJECT)
        raw_headers = arrived.raw.split(b"\r\n\r\n", 1)[0]
        assert b"=?utf-8?" in raw_headers.lower()  # RFC 2047 for the non-ASCII subject
        assert b"\r\nBcc:" not in raw_headers
        body = mail.get_body(("plain",))
        assert body is not None
        assert "<!channel>" in body.get_content()
    elif channel == "sms":
        assert arrived.body == job.message.text
    elif channel == "slack":
        assert arrived.text == job.message.text
    elif channel == "teams":
        assert arrived == job.message.payload
    else:
        assert arrived.verified
        assert arrived.document == job.message.payload
        assert arrived.idempotency_key == job.job_id


# --------------------------------------------------------------------------------------
# Channel-specific errors that do not fit a status: Slack's ok:false, Twilio's codes


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        ("invalid_auth", "permanent"),
        ("channel_not_found", "permanent"),
        ("internal_error", "retry"),
        ("msg_too_long", "permanent"),
    ],
    ids=["invalid_auth", "channel_not_found", "internal_error", "msg_too_long"],
)
def test_slack_ok_false_is_classified_by_error_name(
    fresh: LocalSinks, error: str, outcome: str
) -> None:
    fresh.slack.script.always(Failure(status=200, error=error))
    job = job_for(_one_target(fresh, "slack"), message("slack", "s", "t"))
    result = sender_for("slack", fresh.environ).send(job)
    assert (result.outcome, result.status, result.reason) == (
        outcome,
        200,
        f"C0FOREWARN1: Slack API error {error}",
    )


@pytest.mark.parametrize(
    ("channel", "targets", "wrong_setting", "reason_part"),
    [
        ("sms", ["+15005550001"], None, "code 21211"),
        ("sms", None, SETTING_TWILIO_TOKEN, "code 20003"),
        ("slack", ["C0NOTFOUND"], None, "channel_not_found"),
        ("slack", None, SETTING_SLACK_TOKEN, "invalid_auth"),
        ("email", ["bob@invalid.example"], None, "550 5.1.1"),
        ("email", None, SETTING_SMTP_PASSWORD, "535"),
        ("webhook", None, SETTING_WEBHOOK_SECRET, "HTTP 401"),
    ],
    ids=[
        "twilio-invalid-number",
        "twilio-bad-token",
        "slack-unknown-channel",
        "slack-bad-token",
        "smtp-unknown-mailbox",
        "smtp-bad-password",
        "webhook-bad-signature",
    ],
)
def test_real_rejections_are_permanent(
    fresh: LocalSinks,
    channel: ChannelName,
    targets: list[str] | None,
    wrong_setting: str | None,
    reason_part: str,
) -> None:
    # GIVEN a receiver the real service would refuse (bad recipient or bad credential)
    receiver = _one_target(fresh, channel)
    if targets is not None:
        receiver = replace(receiver, targets=targets)
    environ = dict(fresh.environ)
    if wrong_setting is not None:
        environ[wrong_setting] = "wrong-but-long-enough-value"
    # WHEN
    result = sender_for(channel, environ).send(job_for(receiver, message(channel, "s", "t")))
    # THEN it is permanent, says why, and never echoes the recipient or the credential
    assert result.outcome == "permanent", result.reason
    assert reason_part in result.reason
    assert_no_leak(result, job_for(receiver, message(channel, "s", "t")), environ)


# --------------------------------------------------------------------------------------
# Configuration errors: permanent at once, named by option, nothing sent

NOT_A_CERTIFICATE = "not a certificate: private-relay-notes-0000"


def _no_scheme(sinks: LocalSinks, _: Path) -> dict[str, str]:
    return {"api_base": sinks.twilio.api_base.split("://", 1)[1]}  # 127.0.0.1:port


def _localhost_no_scheme(sinks: LocalSinks, _: Path) -> dict[str, str]:
    return {"api_base": "localhost:" + sinks.twilio.api_base.rsplit(":", 1)[1]}


def _missing_ca(_: LocalSinks, tmp: Path) -> dict[str, str]:
    return {"ca_file": str(tmp / "absent.pem")}


def _directory_ca(_: LocalSinks, tmp: Path) -> dict[str, str]:
    return {"ca_file": str(tmp)}


def _garbage_ca(_: LocalSinks, tmp: Path) -> dict[str, str]:
    (tmp / "relay.pem").write_text(NOT_A_CERTIFICATE, encoding="utf-8")
    return {"ca_file": str(tmp / "relay.pem")}


def _garbage_ca_implicit(sinks: LocalSinks, tmp: Path) -> dict[str, str]:
    return {**_garbage_ca(sinks, tmp), "tls": "implicit"}


CONFIG_CASES = [
    ("sms-api-base-ip-without-scheme", "sms", _no_scheme, "option api_base"),
    ("sms-api-base-host-without-scheme", "sms", _localhost_no_scheme, "option api_base"),
    ("email-ca-file-missing", "email", _missing_ca, "option ca_file names a file that"),
    ("email-ca-file-a-directory", "email", _directory_ca, "option ca_file"),
    ("email-ca-file-not-pem", "email", _garbage_ca, "option ca_file holds no certificate"),
    ("email-ca-file-not-pem-smtps", "email", _garbage_ca_implicit, "option ca_file"),
]


@pytest.mark.parametrize(
    ("channel", "options", "reason_part"),
    [case[1:] for case in CONFIG_CASES],
    ids=[case[0] for case in CONFIG_CASES],
)
def test_a_configuration_error_is_permanent_and_names_the_option(
    fresh: LocalSinks,
    tmp_path: Path,
    channel: ChannelName,
    options: Callable[[LocalSinks, Path], dict[str, str]],
    reason_part: str,
) -> None:
    # GIVEN a receiver whose options the client cannot use (no retry can fix that)
    receiver = _one_target(fresh, channel)
    receiver = replace(receiver, options={**receiver.options, **options(fresh, tmp_path)})
    job = job_for(receiver, message(channel, "s", "t"))
    # WHEN
    result = sender_for(channel, fresh.environ).send(job)
    # THEN it is permanent, names the option, reveals no file contents, and nothing was sent
    assert result.outcome == "permanent", result.reason
    assert reason_part in result.reason
    assert NOT_A_CERTIFICATE not in result.reason
    harness = next(h for h in HARNESSES if h.id == channel)
    assert harness.requests(fresh) == 0
    assert_no_leak(result, job, fresh.environ)


def test_a_receivers_numbers_share_one_twilio_client(
    fresh: LocalSinks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the SMS receiver with two numbers, each HTTP client Twilio's library makes counted
    from twilio.http import http_client

    made: list[object] = []

    class Counted(http_client.TwilioHttpClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(http_client, "TwilioHttpClient", Counted)
    receiver = fresh.receiver("sms")
    assert len(receiver.targets) == 2
    # WHEN one job is sent
    job = job_for(receiver, RenderedMessage("sms", "", "Maintenance planned for web-01."))
    result = sender_for("sms", fresh.environ).send(job)
    # THEN both numbers have it, through one client (one HTTP session, its connection reused)
    assert result.outcome == "delivered"
    assert sorted(sms.to for sms in fresh.twilio.messages) == sorted(receiver.targets)
    assert len(made) == 1
