"""Email through an SMTP relay with smtplib: STARTTLS, AUTH, one message to all targets.

Receiver options:
    smtp_host, smtp_port        the relay (port default 587)
    tls                         ``auto`` (default: STARTTLS when offered, and required before
                                AUTH), ``starttls`` (required), ``implicit`` (SMTPS, port 465),
                                ``off`` (plain; refused when credentials are set). The one
                                list is ``TLS_MODES``; ``channels.options`` checks files by it
    ca_file                     a PEM to trust instead of the system store (private relays)
    username / username_setting, password_setting   AUTH, when the relay wants it
    from                        the sender address
    ehlo_name                   the name said in EHLO (default: this host's FQDN)
    timeout                     seconds (default 10)

The message is built with ``email.message.EmailMessage`` under ``email.policy.SMTP``: non-ASCII
subjects become RFC 2047 encoded-words, lines end in CRLF, and CR/LF from alert text is removed
from the subject before it becomes a header (no header injection). The ``Message-ID`` is derived
from the job id, so a resend after a crash carries the same id and mail systems can drop it.

A later message of a wave (``meta["follows"]``, shared/delivery/threads.py) answers the first
one: ``In-Reply-To`` and ``References`` name its ``Message-ID``, so mail clients show one thread.

A message with calendar entries (``RenderedMessage.calendar``, shared/render/calendar.py) gets
them as one attached part, ``text/calendar; method=PUBLISH`` (or ``CANCEL``) named
``forewarn-maintenance.ics``, its ``ORGANIZER`` the ``From`` address. One part, attached, not
a third alternative beside the text and the HTML: a client that prefers the calendar
alternative would show it instead of the message, and a second copy as a file would be
imported twice.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import ssl
import threading
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from pathlib import Path

from shared.channels.base import (
    ChannelConfigError,
    ChannelLimits,
    ChannelSender,
    OversizeMessageError,
    option,
    timeout_of,
)
from shared.channels.retry import (
    result_for_connection_error,
    result_for_smtp_reply,
    result_for_timeout,
)
from shared.delivery.results import DeliveryResult, combine
from shared.delivery.threads import parent_of
from shared.models import DeliveryJob, Receiver
from shared.render.calendar import FILENAME as CALENDAR_FILENAME
from shared.render.calendar import MaintenanceCalendar, to_ics
from shared.timeutil import Clock, utc_now

TLS_MODES = ("auto", "starttls", "implicit", "off")
DEFAULT_SMTP_PORT = 587
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ENHANCED_STATUS = re.compile(rb"^[245]\.\d{1,3}\.\d{1,3}")


def header_text(value: str) -> str:
    """One line of header text: CR, LF and other control characters become one space."""
    return " ".join(_CONTROL.sub(" ", value).split())


def message_id_for(job_id: str, sender: str) -> str:
    domain = sender.rpartition("@")[2].strip(" >") or "forewarn.invalid"
    digest = hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}.forewarn@{domain}>"


_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


def _original_message_id(job: DeliveryJob) -> str | None:
    """The ``Message-ID`` of the wave's first email to this receiver, when this one follows
    it (only a well-formed id: it becomes a header)."""
    parent = parent_of(job)
    if parent is None or parent.channel != "email":
        return None
    found = _MESSAGE_ID.fullmatch(parent.reference.strip())
    return found.group(0) if found else None


def smtp_port(value: str | None) -> int:
    """The relay's TCP port; ``ChannelConfigError`` unless it is one (1-65535)."""
    try:
        port = int(value or DEFAULT_SMTP_PORT)
    except ValueError:
        raise ChannelConfigError(f"smtp_port must be a TCP port number, not {value!r}") from None
    if not 0 < port < 65536:
        raise ChannelConfigError(f"smtp_port must be between 1 and 65535, not {port}")
    return port


def trust_store(ca_file: str | None) -> ssl.SSLContext:
    """The context that verifies the relay; ``ChannelConfigError`` when it cannot be built.

    The error names the option and what is wrong, never the file's contents.
    """
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except FileNotFoundError:
        problem = "names a file that does not exist"
    except PermissionError:
        problem = "names a file this app may not read"
    except IsADirectoryError:
        problem = "names a directory, not a PEM file"
    except ssl.SSLError:
        problem = "holds no certificate that TLS can load (PEM expected)"
    except (OSError, ValueError) as error:
        problem = f"could not be loaded ({type(error).__name__})"
    if not ca_file:
        problem = "could not be loaded"
    which = "option ca_file" if ca_file else "the system trust store (no ca_file set)"
    raise ChannelConfigError(f"{which} {problem}")


# The trust stores the sender has built, by ca_file (None: the system's): building one parses a
# PEM bundle, ~40 ms of CPU for the system's, which every email used to pay.
_STORES: dict[str | None, tuple[bytes, ssl.SSLContext]] = {}
_STORES_LOCK = threading.Lock()


def kept_trust_store(ca_file: str | None) -> ssl.SSLContext:
    """``trust_store``, built once per process and file, and again when the file's bytes
    change (a renewed CA is trusted at the next send; reading and hashing the file costs a
    fraction of parsing it). A file that cannot be read is not kept: each send says so again
    (``ChannelConfigError``). One context serves every connection (an ``SSLContext`` may be
    shared by threads)."""
    path = ca_file or None
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).digest() if path else b""
    except OSError:
        return trust_store(path)  # raises, naming what is wrong
    with _STORES_LOCK:
        kept = _STORES.get(path)
    if kept is not None and kept[0] == digest:
        return kept[1]
    context = trust_store(path)
    with _STORES_LOCK:
        _STORES[path] = (digest, context)
    return context


def prepare() -> None:
    """Parse the system's trust store now (shared/warmup.py): the default for every relay
    without its own ``ca_file``."""
    kept_trust_store(None)


class EmailSender(ChannelSender):
    channel = "email"
    limits = ChannelLimits(
        max_payload_bytes=10 * 1024 * 1024,
        max_subject_chars=78,  # RFC 5322 SHOULD for one line; longer subjects fold
        max_targets=100,
        notes=("relays advertise their own SIZE; many cap at 10–35 MB",),
    )

    def __init__(self, environ: Mapping[str, str] | None = None, *, clock: Clock = utc_now) -> None:
        self._environ = environ if environ is not None else os.environ
        self._clock = clock

    def build(self, job: DeliveryJob) -> EmailMessage:
        """The MIME message as it will be sent (also what ``forewarn render`` can show)."""
        receiver = job.receiver
        sender = option(receiver, "from", self._environ, required=True) or ""
        if not receiver.targets:
            raise ChannelConfigError(f"receiver {receiver.name!r}: no email addresses")
        message = EmailMessage(policy=SMTP_POLICY)
        try:
            message["Subject"] = header_text(job.message.subject)
            message["From"] = sender
            message["To"] = ", ".join(receiver.targets)
        except ValueError:
            # The policy refuses CR/LF in a header value: an address, since the subject is clean.
            raise ChannelConfigError(
                f"receiver {receiver.name!r}: an address contains a line break"
            ) from None
        message["Date"] = format_datetime(self._clock())
        message["Message-ID"] = message_id_for(job.job_id, sender)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        original = _original_message_id(job)
        if original:
            message["In-Reply-To"] = original
            message["References"] = original
        message.set_content(job.message.text)
        if job.message.html:
            message.add_alternative(job.message.html, subtype="html")
        if job.message.calendar:
            calendar = MaintenanceCalendar.from_json(job.message.calendar)
            message.add_attachment(
                to_ics(calendar, organizer=parseaddr(sender)[1] or None),
                maintype="text",
                subtype="calendar",
                filename=CALENDAR_FILENAME,
                params={"method": calendar.method, "charset": "utf-8"},
            )
        return message

    def send(self, job: DeliveryJob) -> DeliveryResult:
        receiver = job.receiver
        try:
            message = self.build(job)
            data = message.as_bytes()
            limit = self.limits.max_payload_bytes
            if limit is not None and len(data) > limit:
                raise OversizeMessageError(f"email is {len(data)} bytes (limit {limit})")
            timeout = timeout_of(receiver, self._environ)
            tls = (option(receiver, "tls", self._environ, default="auto") or "auto").lower()
            if tls not in TLS_MODES:
                raise ChannelConfigError(
                    f"receiver {receiver.name!r}: tls must be one of {', '.join(TLS_MODES)}"
                )
            host = option(receiver, "smtp_host", self._environ, required=True) or ""
            port = smtp_port(option(receiver, "smtp_port", self._environ))
            username = option(receiver, "username", self._environ)
            password = option(receiver, "password", self._environ)
            if username and not password:
                raise ChannelConfigError(f"receiver {receiver.name!r}: password_setting missing")
            if tls == "off" and username:
                # Known before connecting: a configuration error, not a relay to retry.
                raise ChannelConfigError(
                    f"receiver {receiver.name!r}: tls 'off' with a username: credentials need TLS"
                )
            # Built before connecting: a trust store that cannot be loaded is a configuration
            # error (permanent), not a network failure to retry for hours.
            context = self._tls_context(receiver) if tls != "off" else None
        except (ChannelConfigError, OversizeMessageError) as error:
            return DeliveryResult.permanent(None, str(error))
        sender = str(message["From"])
        try:
            with self._connect(receiver, host, port, tls, context, timeout) as smtp:
                self._secure(smtp, context, tls, has_credentials=bool(username))
                if username and password:
                    smtp.login(username, password)
                refused = smtp.sendmail(sender, list(receiver.targets), data)
        except smtplib.SMTPRecipientsRefused as error:
            return self._per_target(receiver, error.recipients, message)
        except smtplib.SMTPNotSupportedError:
            return DeliveryResult.permanent(None, "SMTP relay lacks a required extension")
        except smtplib.SMTPResponseException as error:
            return result_for_smtp_reply(error.smtp_code, _smtp_reason(error.smtp_code, error))
        except smtplib.SMTPServerDisconnected as error:
            # smtplib reports a read timeout as a disconnection; say which it was.
            if isinstance(error.__context__, TimeoutError):
                return result_for_timeout("SMTP exchange")
            return result_for_connection_error("SMTP connection")
        except smtplib.SMTPException:
            return DeliveryResult.retry(None, "SMTP exchange failed")
        except ssl.SSLCertVerificationError:
            return DeliveryResult.permanent(None, "SMTP relay's certificate was not trusted")
        except ssl.SSLError:
            return DeliveryResult.retry(None, "TLS handshake with the SMTP relay failed")
        except TimeoutError:
            return result_for_timeout("SMTP exchange")
        except OSError:
            return result_for_connection_error("SMTP connection")
        return self._per_target(receiver, refused, message)

    def _connect(
        self,
        receiver: Receiver,
        host: str,
        port: int,
        tls: str,
        context: ssl.SSLContext | None,
        timeout: float,
    ) -> smtplib.SMTP:
        ehlo_name = option(receiver, "ehlo_name", self._environ)
        if tls == "implicit":
            return smtplib.SMTP_SSL(
                host, port, local_hostname=ehlo_name, timeout=timeout, context=context
            )
        return smtplib.SMTP(host, port, local_hostname=ehlo_name, timeout=timeout)

    def _secure(
        self,
        smtp: smtplib.SMTP,
        context: ssl.SSLContext | None,
        tls: str,
        *,
        has_credentials: bool,
    ) -> None:
        if tls in ("implicit", "off"):
            if tls == "off" and has_credentials:
                raise smtplib.SMTPNotSupportedError("credentials over plain SMTP are refused")
            return
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
        elif tls == "starttls" or has_credentials:
            # Never send a password in the clear because a relay forgot to offer STARTTLS.
            raise smtplib.SMTPNotSupportedError("STARTTLS is required but was not offered")

    def _tls_context(self, receiver: Receiver) -> ssl.SSLContext:
        try:
            return kept_trust_store(option(receiver, "ca_file", self._environ))
        except ChannelConfigError as error:
            raise ChannelConfigError(f"receiver {receiver.name!r}: {error}") from None

    def _per_target(
        self,
        receiver: Receiver,
        refused: Mapping[str, tuple[int, bytes]],
        message: EmailMessage,
    ) -> DeliveryResult:
        reference = str(message["Message-ID"])
        results: list[tuple[str, DeliveryResult]] = []
        for target in receiver.targets:
            if target in refused:
                code, text = refused[target]
                results.append((target, result_for_smtp_reply(code, _smtp_reason(code, text))))
            else:
                results.append((target, DeliveryResult.ok(250, reference=None, targets=(target,))))
        result = combine(results)
        if result.delivered_targets:
            return DeliveryResult(
                result.outcome,
                result.status,
                result.reason,
                result.retry_after,
                reference,
                result.delivered_targets,
            )
        return result


def _smtp_reason(code: int, detail: object) -> str:
    """The reply code and its enhanced status (``5.1.1``); the free text may echo addresses."""
    raw = getattr(detail, "smtp_error", detail)
    text = raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "replace")
    enhanced = _ENHANCED_STATUS.match(text.strip())
    suffix = f" {enhanced.group(0).decode('ascii')}" if enhanced else ""
    return f"SMTP relay answered {code}{suffix}"
