"""What the demo's stand-in receivers got: read back in the shape the preview draws, and shown.

Shared by ``forewarn demo`` (demo_command.py) and its follow-ups (demo_followups.py).
"""

from __future__ import annotations

import email.policy
import textwrap
from email import message_from_bytes
from email.message import EmailMessage
from typing import Any

from shared.models import Receiver, RenderedMessage


def received_messages(stack: Any, pick: int = 0) -> list[tuple[Receiver, RenderedMessage]]:
    """What the stand-ins received, in the shape the preview draws: each one's first message
    (``pick`` 0, Slack's with its thread) or its latest (``pick`` -1, Slack's alone)."""
    from shared.render.sms import count_segments

    sinks = stack.sinks
    receivers = {
        channel: sinks.receiver(channel, f"{channel}-demo", timezone="Europe/Amsterdam")
        for channel in stack.channels
    }
    found: list[tuple[Receiver, RenderedMessage]] = []
    mail = sinks.smtp.mails[pick]
    parsed = message_from_bytes(mail.raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    found.append(
        (
            receivers["email"],
            RenderedMessage(
                channel="email",
                subject=str(parsed["Subject"]),
                text=text_part.get_content() if text_part else "",
                html=html_part.get_content() if html_part else None,
                meta=_attached_calendar(parsed),
            ),
        )
    )
    sms = sinks.twilio.messages[pick]
    found.append(
        (
            receivers["sms"],
            RenderedMessage(
                channel="sms", subject="", text=sms.body, meta=_segments(count_segments(sms.body))
            ),
        )
    )
    slack = sinks.slack.messages[pick]
    # The details reply went into the first message's thread: drawn under it, as Slack does.
    thread = [
        {"text": reply.text, "blocks": reply.blocks}
        for reply in sinks.slack.messages
        if pick == 0 and reply.thread_ts == slack.ts
    ]
    payload = {"blocks": slack.blocks, "thread": thread}
    found.append(
        (
            receivers["slack"],
            RenderedMessage(channel="slack", subject="", text=slack.text, payload=payload),
        )
    )
    # The Teams stand-in keeps the card; the preview draws the Workflows envelope it came in.
    envelope = {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": sinks.teams.cards[pick],
            }
        ],
    }
    found.append(
        (
            receivers["teams"],
            RenderedMessage(channel="teams", subject="", text="", payload=envelope),
        )
    )
    hook = sinks.webhook.deliveries[pick]
    found.append(
        (
            receivers["webhook"],
            RenderedMessage(
                channel="webhook",
                subject="",
                text="",
                payload=hook.document,
                meta={"signature_verified": hook.verified},
            ),
        )
    )
    return found


def _attached_calendar(mail: EmailMessage) -> dict[str, Any]:
    """The email's .ics as the demo says it: its name, method and how many entries."""
    for part in mail.walk():
        if part.get_content_type() == "text/calendar":
            ics = part.get_payload(decode=True)
            entries = ics.count(b"BEGIN:VEVENT") if isinstance(ics, bytes) else 0
            method = part.get_param("method")
            return {"calendar": f"{part.get_filename()} ({method}, {entries} entries)"}
    return {}


def _segments(count: Any) -> dict[str, Any]:
    return {"segments": count.segments, "encoding": count.encoding}


def show(receiver: Receiver, message: RenderedMessage) -> None:
    print(f"\n--- {message.channel} ({receiver.name}) " + "-" * 40)
    if message.channel == "email":
        print(f"Subject: {message.subject}")
        print(textwrap.indent(_head(message.text, 18), "  "))
        if message.meta.get("calendar"):
            print(f"  Attached calendar: {message.meta['calendar']}")
    elif message.channel == "sms":
        print(f"  {message.text}")
        print(f"  ({message.meta.get('segments')} segment(s), {message.meta.get('encoding')})")
    elif message.channel == "slack":
        blocks = (message.payload or {}).get("blocks", [])
        print(f"  {len(blocks)} Block Kit blocks; fallback text:")
        print(textwrap.indent(_head(message.text, 8), "  "))
    elif message.channel == "teams":
        attachments = (message.payload or {}).get("attachments", [{}])
        card = attachments[0].get("content", {})
        texts = [e.get("text", "") for e in card.get("body", []) if e.get("type") == "TextBlock"]
        print(f"  Adaptive Card {card.get('version')}: " + " | ".join(texts[:3]))
    else:
        document = message.payload or {}
        event_id = document.get("event_id")
        print(
            f"  version {document.get('version')}, event {event_id}, "
            f"{len(document.get('vms', []))} VMs, signature verified: "
            f"{message.meta.get('signature_verified')}"
        )


def _head(text: str, lines: int) -> str:
    kept = text.splitlines()[:lines]
    more = len(text.splitlines()) - len(kept)
    return "\n".join(kept) + (f"\n… {more} more lines" if more > 0 else "")
