"""``forewarn demo``: Start from the message, from a signed link in the demo's first email.

``enable`` turns the feature on for the demo before the alert is posted (the action link key,
the stack's own address as the public URL, the hosted app playing App Service authentication
with a demo person on the email receiver's allow-list), so every message carries its plan
steps' Start links. ``start_step_one`` then, right after the first notice, opens the first
email's Start link for step 1 of the plan (sql-01) as a person would: the page re-reads Azure
and says what will happen; confirmed, the app calls ``performMaintenance`` on the stand-in ARM,
follows the long-running operation to its end, the page says the outcome, and every receiver
hears it in the wave's thread (shown as each got it). The demo's follow-ups then find sql-01
done. ``refusals_and_show``, at the end, is the short second look: the same link again is
refused as used, and step 2 is refused until Azure's 30 minutes between steps have passed.
"""

from __future__ import annotations

import email.policy
import os
import re
import textwrap
from email import message_from_bytes
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from typing import Any

import requests
import yaml

from shared import names
from shared.cli.demo_followups import _counts, _wait_and_take
from shared.models import Receiver, RenderedMessage

PERSON = "alice@example.com"  # signed in by the local host, as App Service authentication would
DEMO_LINK_KEY = "forewarn-demo-action-link-key"
_LINK = re.compile(r"Start now \(sign-in, then confirm\): (\S+/api/actions/\S+)")


def enable(stack: Any) -> None:
    """Start from the message on, for the messages the demo is about to send."""
    os.environ.setdefault(names.SETTING_ACTION_LINK_KEY, DEMO_LINK_KEY)
    os.environ[names.SETTING_PUBLIC_URL] = stack.base_url
    os.environ[names.SETTING_ENABLE_START_FROM_MESSAGE] = "true"
    os.environ[names.SETTING_ACTIONS_SIGN_IN] = "easyauth"
    stack.host.signed_in_as = PERSON
    config = Path(os.environ[names.SETTING_CONFIG])
    routing = yaml.safe_load(config.read_text(encoding="utf-8"))
    for receiver in routing["receivers"]:
        if receiver["type"] == "email":
            receiver["start_from_message"] = {"allow": [PERSON]}
    config.write_text(yaml.safe_dump(routing, sort_keys=False), encoding="utf-8")


def _mail_text(mail: Any) -> str:
    parsed = message_from_bytes(mail.raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def _page(answer: requests.Response) -> str:
    """The page's title and text, as a person reads them."""
    body = answer.text.split("<body>", 1)[-1]
    # A heading ends with a dash, so that it does not run into the sentence after it.
    text = re.sub(r"<[^>]+>", " ", re.sub(r"</h[1-6]>", " — ", body))
    return textwrap.fill(" ".join(unescape(text).split()), 96, subsequent_indent="    ")


def _links(stack: Any) -> list[str]:
    mails = stack.sinks.smtp.mails
    return _LINK.findall(_mail_text(mails[0])) if mails else []


def start_step_one(stack: Any, timeout: float) -> list[tuple[Receiver, RenderedMessage]] | None:
    """Open step 1's Start link, confirm it; what every channel got, or None when it failed."""
    links = _links(stack)
    if len(links) < 2:
        print(f"forewarn demo: the first email carries {len(links)} Start link(s), not 2")
        return None
    print(f"\n=== Start now: {PERSON} opens step 1's link in the first email " + "=" * 22)
    shown = requests.get(links[0], timeout=30)
    print(f"  GET step 1 -> {shown.status_code}\n    {_page(shown)}")
    if shown.status_code != 200:
        return None
    before = len(stack.arm.maintenance_log)
    counts = _counts(stack)
    done = requests.post(links[0], timeout=120)
    print(f"  POST step 1 (Confirm) -> {done.status_code}\n    {_page(done)}")
    if done.status_code != 200:
        return None
    print(f"  the stand-in ARM: performMaintenance for {_started(stack, before)}")
    return _wait_and_take(stack, counts, timeout, "Start now on step 1")


def refusals_and_show(stack: Any) -> bool:
    """The same link again (used), and step 2 (too soon after step 1): both refused."""
    links = _links(stack)
    if len(links) < 2:
        return False
    print("\n=== Start now, refused: step 1's link again, and step 2 right away " + "=" * 16)
    again = requests.get(links[0], timeout=30)
    print(f"  GET step 1 again -> {again.status_code}\n    {_page(again)}")
    early = requests.get(links[1], timeout=30)
    print(f"  GET step 2 -> {early.status_code}\n    {_page(early)}")
    print(f"  the stand-in ARM, over the whole demo: performMaintenance for {_started(stack, 0)}")
    print(
        f"\n  The audit: forewarn wave show <tracking id> lists {PERSON}'s page views, the "
        "confirmation, the outcome and the refusals under each VM."
    )
    return again.status_code == 410 and early.status_code == 409


def _started(stack: Any, since: int) -> str:
    """The VMs whose maintenance the stand-in ARM was asked to start, from entry ``since``."""
    log = stack.arm.maintenance_log[since:]
    return ", ".join(vm_id.rsplit("/", 1)[-1] for what, vm_id in log if what == "start") or "none"
