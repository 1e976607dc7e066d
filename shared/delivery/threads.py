"""One thread per notice: a receiver's later messages about a wave follow the first one.

The first message of a wave (its ``wave`` key, the tracking id) delivered to a receiver is that
receiver's *thread parent*. Its row in ``messagerefs`` (PartitionKey ``thread|<wave>``, RowKey
the receiver, beside the per-event rows) keeps what a follow-up needs to name or reach it: the
channel's reference (Slack ``channel/ts`` per channel, the email ``Message-ID``), the subject,
when it was sent, its event id, and for Slack the top message itself, because ``chat.update``
replaces a message whole and the update must keep what the original said.

Before a send, the stage reads the parent and hands it to the sender in the message's
``meta["follows"]``; each sender decides what following means on its channel (a thread reply and
an update of the original on Slack, ``In-Reply-To``/``References`` on email, a card that names the
original on Teams, ``follows`` in the webhook document). After a delivery the row is inserted if
absent: of two first messages delivered at once, one becomes the parent and the other is simply
a second message, which is what a lost race costs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.delivery.results import DeliveryResult
from shared.models import DeliveryJob
from shared.storage import EntityTable, table_key
from shared.timeutil import format_utc

# A table string property holds 32K UTF-16 units; the kept Slack message stays well below.
MAX_KEPT_MESSAGE_CHARS = 30_000
FOLLOWS_META = "follows"


@dataclass(frozen=True)
class ThreadParent:
    """The first message of a wave a receiver got, as its follow-ups need it."""

    wave: str
    event_id: str
    channel: str
    reference: str
    subject: str
    sent_at: str
    message: dict[str, Any] | None = None  # Slack: the top message's text and blocks

    def to_json(self) -> dict[str, Any]:
        return {
            "wave": self.wave,
            "event_id": self.event_id,
            "channel": self.channel,
            "reference": self.reference,
            "subject": self.subject,
            "sent_at": self.sent_at,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ThreadParent:
        message = data.get("message")
        return cls(
            wave=str(data.get("wave") or ""),
            event_id=str(data.get("event_id") or ""),
            channel=str(data.get("channel") or ""),
            reference=str(data.get("reference") or ""),
            subject=str(data.get("subject") or ""),
            sent_at=str(data.get("sent_at") or ""),
            message=message if isinstance(message, dict) else None,
        )


def parent_of(job: DeliveryJob) -> ThreadParent | None:
    """What a sender reads: the parent the stage attached to this job, if any."""
    data = job.message.meta.get(FOLLOWS_META)
    return ThreadParent.from_json(data) if isinstance(data, dict) else None


def wave_of(job: DeliveryJob) -> str | None:
    wave = job.message.meta.get("wave")
    return str(wave) if wave else None


def _kept_message(job: DeliveryJob) -> dict[str, Any] | None:
    if job.receiver.type != "slack":
        return None
    payload = job.message.payload or {}
    kept = {"text": job.message.text, "blocks": list(payload.get("blocks") or [])}
    if len(json.dumps(kept, ensure_ascii=False)) > MAX_KEPT_MESSAGE_CHARS:
        kept = {"text": job.message.text[:3000], "blocks": []}
    return kept


class ThreadBook:
    """The thread parents in ``messagerefs``."""

    def __init__(self, table: EntityTable) -> None:
        self._table = table

    @staticmethod
    def _keys(wave: str, receiver: str) -> tuple[str, str]:
        return table_key(f"thread|{wave}"), table_key(receiver)

    def parent(self, job: DeliveryJob) -> ThreadParent | None:
        """The parent this job follows; None for the wave's first message (or its retry)."""
        wave = wave_of(job)
        if wave is None:
            return None
        entity = self._table.get(*self._keys(wave, job.receiver.name))
        if entity is None or entity.get("event_id") == job.event_id:
            return None
        message = json.loads(str(entity["message"])) if entity.get("message") else None
        return ThreadParent.from_json({**entity, "wave": wave, "message": message})

    def following(self, job: DeliveryJob) -> DeliveryJob:
        """The job with its parent in ``meta["follows"]`` (unchanged when it has none)."""
        parent = self.parent(job)
        if parent is None:
            return job
        meta = {**job.message.meta, FOLLOWS_META: parent.to_json()}
        return replace(job, message=replace(job.message, meta=meta))

    def remember(self, job: DeliveryJob, result: DeliveryResult, now: datetime) -> bool:
        """Make this delivered job its wave's parent for the receiver, unless one exists."""
        wave = wave_of(job)
        if wave is None or parent_of(job) is not None:
            return False
        kept = _kept_message(job)
        entity: dict[str, Any] = {
            "event_id": job.event_id,
            "job_id": job.job_id,
            "channel": job.receiver.type,
            "reference": result.reference or "",
            "subject": job.message.subject[:1000],
            "sent_at": format_utc(now),
        }
        if kept is not None:
            entity["message"] = json.dumps(kept, ensure_ascii=False)
        return self._table.insert_if_absent(*self._keys(wave, job.receiver.name), entity)
