"""A real SMTP relay on 127.0.0.1 (aiosmtpd) with STARTTLS and AUTH, recording messages.

TLS uses a self-signed certificate made at start (``tls.self_signed``); clients trust it
through the receiver option ``ca_file``. AUTH LOGIN/PLAIN needs STARTTLS first, as a real
submission port does. The failure script uses HTTP-like statuses so that one contract table
serves every channel; they become the SMTP replies a relay would give in that situation:
transient 4yz for 408/429/5xx, permanent 5yz for other 4xx.

aiosmtpd is imported when a relay is made, not with this module: the Function App's
requirements leave it out (docs/decisions.md), and ``forewarn stand-in --no-receivers`` or the
ARM-only benchmarks run without it. Without it, making a relay raises ``SmtpStandInUnavailable``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import ssl
import tempfile
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from shared.standins.stand_in import Script, closed_port
from shared.standins.tls import self_signed

if TYPE_CHECKING:
    from aiosmtpd.smtp import AuthResult

# aiosmtpd warns at every AUTH about an attribute it reads itself; that is its noise, not ours.
logging.getLogger("mail.log").setLevel(logging.ERROR)

USERNAME = "forewarn"
PASSWORD = "fake-smtp-password-0000"
MAX_MESSAGE_BYTES = 12 * 1024 * 1024
REFUSED_DOMAIN = "invalid.example"  # RCPT to this domain gets 550 5.1.1

# What a relay answers where an HTTP service would answer the status on the left.
SMTP_REPLIES = {
    408: "421 4.4.2 Timeout waiting for data, closing",
    429: "451 4.7.1 Too many messages, slow down",
    500: "451 4.3.0 Local error in processing",
    502: "421 4.3.2 Service not available, closing transmission channel",
    503: "450 4.3.2 Mailbox temporarily unavailable",
    504: "451 4.4.1 Upstream timeout",
    400: "501 5.5.4 Syntax error in parameters",
    401: "530 5.7.0 Authentication required",
    403: "550 5.7.1 Relaying denied",
    404: "550 5.1.1 Mailbox unavailable",
}


class SmtpStandInUnavailable(RuntimeError):
    """aiosmtpd, which the SMTP stand-in runs on, is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "the SMTP stand-in needs aiosmtpd: pip install 'forewarn[standins]' "
            "(or -r requirements-dev.txt in a clone)"
        )


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage


class _Handler:
    def __init__(self, relay: SmtpStandIn) -> None:
        self._relay = relay

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower().endswith("@" + REFUSED_DOMAIN):
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        failure = self._relay.script.next()
        if failure is not None and failure.hang_seconds:
            await asyncio.sleep(failure.hang_seconds)
        if failure is not None and failure.status not in (None, 200):
            return SMTP_REPLIES.get(failure.status or 500, "451 4.3.0 Scripted failure")
        raw = bytes(envelope.original_content or envelope.content)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self._relay.keep(Mail(envelope.mail_from, list(envelope.rcpt_tos), raw, parsed))
        return "250 2.0.0 OK queued"


class _Authenticator:
    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USERNAME.encode()
            and auth_data.password == PASSWORD.encode()
        ):
            return AuthResult(success=True)
        # handled=False lets aiosmtpd answer 535; handled=True without a reply hangs the client.
        return AuthResult(success=False, handled=False)


class SmtpStandIn:
    name = "smtp"

    def __init__(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as missing:
            raise SmtpStandInUnavailable() from missing
        self.script = Script()
        self.mails: list[Mail] = []
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix="forewarn-smtp-")
        self.cert_file, key_file = self_signed(Path(self._dir.name))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, key_file)
        self.port = closed_port()
        self._controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=_Authenticator(),
            data_size_limit=MAX_MESSAGE_BYTES,
            ready_timeout=10.0,
        )

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def ca_file(self) -> str:
        return str(self.cert_file)

    def keep(self, mail: Mail) -> None:
        with self._lock:
            self.mails.append(mail)

    def reset(self) -> None:
        self.script.clear()
        with self._lock:
            self.mails.clear()

    def start(self) -> SmtpStandIn:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
        self._dir.cleanup()

    def __enter__(self) -> SmtpStandIn:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
