"""What every channel sender is: one small interface whose result says *retry or not*.

    ChannelError
    ├── ChannelConfigError     a receiver's options or settings are missing or malformed
    └── OversizeMessageError   the rendered message exceeds the channel's declared limits

Senders never raise these to the delivery stage: they translate them (and every library error)
into a ``DeliveryResult`` (``shared.delivery.results``, beside the delivery records that keep
it) at the boundary, with a reason that carries no secret, no webhook URL and no full phone
number. The reason is written to the delivery log and the dead-letter table.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from shared.delivery.results import DeliveryResult
from shared.models import ChannelName, DeliveryJob, Receiver

DEFAULT_TIMEOUT_SECONDS = 10.0


class ChannelError(Exception):
    """Base class of failures a sender detects before or instead of talking to the service."""


class ChannelConfigError(ChannelError):
    """A receiver option or the setting it names is missing or malformed (permanent)."""


class OversizeMessageError(ChannelError):
    """The message exceeds a limit the channel declares (permanent: resending cannot help)."""


@dataclass(frozen=True)
class ChannelLimits:
    """A channel's limits as data (see docs/channel limits); ``None`` = no such limit."""

    max_text_chars: int | None = None
    max_subject_chars: int | None = None
    max_payload_bytes: int | None = None  # the serialized request body
    max_blocks: int | None = None
    max_section_chars: int | None = None
    max_targets: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


class Progress:
    """What a sender tells the delivery stage as it goes, and asks it about an earlier try.

    A *part* is a target (an SMS number, a Slack channel) or a piece of one that a receiver
    sees on its own (``"C123#top"``, ``"C123#reply1"``). The stage records each part as it is
    reached, so that a crash re-sends only what was not, and a reply goes under the top message
    an earlier try posted. This base class remembers nothing: a job sent without a stage."""

    def reached(self, part: str, reference: str | None = None) -> None:
        """``part`` is now visible to the receiver (``reference``: what names it, e.g. a ts)."""

    def done(self, part: str) -> str | None:
        """The reference recorded for ``part`` ("" when it had none), or None if not reached."""
        return None


class ChannelSender(ABC):
    """Sends one ``DeliveryJob`` to its receiver's targets and says what happened."""

    channel: ClassVar[ChannelName]
    limits: ClassVar[ChannelLimits]

    @abstractmethod
    def send(self, job: DeliveryJob) -> DeliveryResult:
        """Never raises for a delivery failure; returns delivered / retry / permanent."""

    def send_reporting(self, job: DeliveryJob, progress: Progress) -> DeliveryResult:
        """``send``, telling ``progress`` each part as it is reached. Senders that reach a
        job in one request (a webhook, a Teams card, one SMTP transaction) keep this default:
        their job is one part, recorded by the stage from the result."""
        return self.send(job)


# --------------------------------------------------------------------------------------
# Receiver options: plain values or references to settings that hold them


def option(
    receiver: Receiver,
    key: str,
    environ: Mapping[str, str],
    *,
    default: str | None = None,
    required: bool = False,
) -> str | None:
    """``options[key]``, or the setting named by ``options[key + "_setting"]``.

    The error names the option and the setting, never the value.
    """
    if key in receiver.options and str(receiver.options[key]).strip():
        return str(receiver.options[key]).strip()
    setting = receiver.options.get(f"{key}_setting")
    if setting:
        value = environ.get(setting, "").strip()
        if value:
            return value
        if required:
            raise ChannelConfigError(
                f"receiver {receiver.name!r}: setting {setting!r} (option {key}_setting) is empty"
            )
        return default
    if required and default is None:
        raise ChannelConfigError(
            f"receiver {receiver.name!r}: option {key!r} or {key}_setting is required"
        )
    return default


def timeout_of(receiver: Receiver, environ: Mapping[str, str]) -> float:
    raw = option(receiver, "timeout", environ, default=str(DEFAULT_TIMEOUT_SECONDS))
    try:
        value = float(raw or DEFAULT_TIMEOUT_SECONDS)
    except ValueError:
        raise ChannelConfigError(f"receiver {receiver.name!r}: timeout is not a number") from None
    if value <= 0:
        raise ChannelConfigError(f"receiver {receiver.name!r}: timeout must be positive")
    return value
