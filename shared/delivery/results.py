"""What one send of one job came to, and what of a target may be shown of it.

Every sender returns a ``DeliveryResult`` (delivered, retry or permanent); the delivery stage
acts on it and the delivery records keep it, so it lives here, beside those records and below
the senders (``shared.channels``), which import it. ``combine`` makes one result of a job sent
target by target. Masking says what of a target may appear in a result's reason, the logs and
the dead-letter table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["delivered", "retry", "permanent"]


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one send of one job (all of its pending targets).

    ``delivered_targets`` lets the stage remember partial progress (SMS sends one message per
    number) so that a retry sends only to the targets still pending.
    """

    outcome: Outcome
    status: int | None
    reason: str
    retry_after: float | None = None  # seconds, from the service (Retry-After) when it said so
    reference: str | None = None  # Slack ts, email Message-ID, Twilio SM sid, for updates
    delivered_targets: tuple[str, ...] = ()

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"

    @classmethod
    def ok(
        cls,
        status: int | None,
        *,
        reference: str | None = None,
        targets: tuple[str, ...] = (),
        reason: str = "delivered",
    ) -> DeliveryResult:
        return cls("delivered", status, reason, reference=reference, delivered_targets=targets)

    @classmethod
    def retry(
        cls, status: int | None, reason: str, *, retry_after: float | None = None
    ) -> DeliveryResult:
        return cls("retry", status, reason, retry_after=retry_after)

    @classmethod
    def permanent(cls, status: int | None, reason: str) -> DeliveryResult:
        return cls("permanent", status, reason)


# --------------------------------------------------------------------------------------
# Masking: what of a target may appear in logs, results and the dead-letter table

_DIGITS = re.compile(r"\d")


def mask_target(target: str) -> str:
    """Enough to recognise a target, never enough to use it.

    Phone numbers keep their last 2 digits, email addresses the first letter and the domain,
    URLs scheme and host only (paths and queries of webhook URLs are secrets).
    """
    text = target.strip()
    if "://" in text:
        scheme, _, rest = text.partition("://")
        host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
        return f"{scheme}://{host}/…"
    if "@" in text:
        local, _, domain = text.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if len(_DIGITS.findall(text)) >= 5:
        return mask_phone(text)
    return text


def mask_phone(number: str) -> str:
    digits = _DIGITS.findall(number)
    prefix = "+" if number.strip().startswith("+") else ""
    return f"{prefix}{'•' * max(len(digits) - 2, 3)}{''.join(digits[-2:])}"


def mask_targets(targets: list[str] | tuple[str, ...]) -> str:
    return ", ".join(mask_target(target) for target in targets)


def combine(results: list[tuple[str, DeliveryResult]]) -> DeliveryResult:
    """One result for a job sent target by target (one failing target never stops the others).

    All delivered: delivered. Any transient failure: retry (the longest Retry-After), keeping
    the delivered targets so that the retry skips them. Otherwise permanent.
    """
    delivered = tuple(target for target, result in results if result.delivered)
    references = [result.reference for _, result in results if result.reference]
    if len(delivered) == len(results):
        last_status = results[-1][1].status if results else None
        return DeliveryResult.ok(
            last_status, reference=" ".join(references) or None, targets=delivered
        )
    failures = [(target, result) for target, result in results if not result.delivered]
    transient = [(target, result) for target, result in failures if result.outcome == "retry"]
    target, first = (transient or failures)[0]
    waits = [result.retry_after for _, result in transient if result.retry_after is not None]
    reason = f"{mask_target(target)}: {first.reason}"
    if len(failures) > 1:
        reason += f" (and {len(failures) - 1} more target(s) failed)"
    return DeliveryResult(
        outcome="retry" if transient else "permanent",
        status=first.status,
        reason=reason,
        retry_after=max(waits) if waits else None,
        reference=" ".join(references) or None,
        delivered_targets=delivered,
    )
