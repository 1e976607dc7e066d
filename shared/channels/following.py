"""How a follow-up names the message it follows (see shared/delivery/threads.py).

Channels that cannot thread (Teams workflows, a Slack incoming webhook) say in words which
message this one follows; Slack with a bot token also marks the original as updated. Both lines
say when in the receiver's zone, as every other moment of the message does (one zone per
message: "Follows “…”, sent Tue 15 Sep 14:00 CEST."), never in UTC beside a message in CEST.
"""

from __future__ import annotations

from shared.delivery.threads import ThreadParent
from shared.render.text import ReaderClock
from shared.timeutil import InvalidTimestampError, parse_utc


def sent_when(parent: ThreadParent, clock: ReaderClock) -> str:
    """``Tue 15 Sep 14:00 CEST``: absolute, because a follow-up may be read days later."""
    try:
        return clock.local(parse_utc(parent.sent_at))
    except InvalidTimestampError:
        return parent.sent_at or "earlier"


def follows_line(parent: ThreadParent, clock: ReaderClock) -> str:
    """One plain-text line naming the original: its subject and when it was sent."""
    subject = " ".join(parent.subject.split())[:200] or "the first message about this wave"
    return f"Follows “{subject}”, sent {sent_when(parent, clock)}."


# What each notice type is called in the line an updated original gets (render/lifecycle.py).
NEWS: dict[str, str] = {
    "maintenance.announced": "Another notice",
    "maintenance.in_progress": "In progress",
    "maintenance.rescheduled": "Rescheduled",
    "maintenance.completed": "Completed",
    "maintenance.cancelled": "Cancelled",
    "maintenance.reminder": "Reminder",
    "maintenance.vm_added": "VMs added",
    "maintenance.vm_deleted": "VMs deleted",
}


def update_line(notice_type: str | None, subject: str, when: str) -> str:
    """What the updated original says about its latest follow-up: what kind, what, when."""
    news = NEWS.get(notice_type or "", "Update")
    return f"{news} ({when}): {' '.join(subject.split())[:200]}. More in the thread."


def slack_escaped(text: str) -> str:
    """Slack mrkdwn's three control characters, as Slack asks them to be escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
