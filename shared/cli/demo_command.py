"""``forewarn demo``: a real sample maintenance alert through the whole app, on 127.0.0.1.

It starts Azurite, a stand-in ARM holding a small East US fleet, stand-in SMTP, Twilio,
Slack, Teams and webhook receivers, and hosts the real ``function_app``; posts Microsoft's
Service Health maintenance sample to ``POST /api/alerts``; waits until every receiver has its
message; prints what each received and writes ``demo-output/preview.html`` showing each
message as its recipient would see it. The stand-ins are the package ``shared.standins``.
"""

from __future__ import annotations

import argparse
import email.policy
import os
import sys
import tempfile
import textwrap
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from shared.cli.demo_loganalytics import catch_up_and_show, show_quietest, stand_in_workspace
from shared.models import Receiver, RenderedMessage


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a real sample alert through everything locally and show what each channel got",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from shared import names
    from shared.cli.demo_followups import DEMO_REMINDER_OFFSETS
    from shared.standins.local_stack import LocalStack, demo_fleet, sample_alert

    args.out.mkdir(parents=True, exist_ok=True)
    # One more reminder offset, so that a reminder falls due during the demo (demo_followups).
    os.environ.setdefault(names.SETTING_REMINDER_OFFSETS, DEMO_REMINDER_OFFSETS)
    with (
        tempfile.TemporaryDirectory(prefix="forewarn-demo-") as workdir,
        stand_in_workspace(),  # Log Analytics: quietest hours and a notice to recover
        LocalStack(demo_fleet(), workdir=Path(workdir), quiet=True) as stack,
    ):
        print(
            f"forewarn demo: app on {stack.host.base_url if stack.host else '?'}; "
            "Azurite, ARM, SMTP, Twilio, Slack, Teams and webhook stand-ins on 127.0.0.1"
        )
        answer = stack.post_alert(sample_alert())
        print(f"POST /api/alerts -> {answer.status_code} {answer.text}")
        if answer.status_code != 202:
            return 1
        if not stack.wait_for_deliveries(1, args.timeout):
            print(
                f"forewarn demo: not every channel received within {args.timeout:.0f} s: "
                f"{stack.deliveries()}",
                file=sys.stderr,
            )
            return 1
        received = received_messages(stack)
        for receiver, message in received:
            show(receiver, message)
        show_quietest(received)
        if not catch_up_and_show(stack, args.timeout):
            return 1
        from shared.cli.demo_followups import follow_up_and_show

        followed = follow_up_and_show(stack, args.timeout)
        if followed is None:
            return 1
        from shared.render.preview import build_preview

        page = args.out / "preview.html"
        page.write_text(
            build_preview([*received, *followed], "forewarn demo: what each channel received"),
            encoding="utf-8",
        )
        print(f"\nEvery channel's message as its recipient sees it: {page}")
    return 0


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


def _segments(count: Any) -> dict[str, Any]:
    return {"segments": count.segments, "encoding": count.encoding}


def show(receiver: Receiver, message: RenderedMessage) -> None:
    print(f"\n--- {message.channel} ({receiver.name}) " + "-" * 40)
    if message.channel == "email":
        print(f"Subject: {message.subject}")
        print(textwrap.indent(_head(message.text, 18), "  "))
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
