"""``forewarn demo``: Start from the message, from a signed link in the demo's first email.

``enable`` turns the feature on for the demo before the alert is posted (the action link key,
the stack's own address as the public URL, the hosted app playing App Service authentication
with a demo person on the email receiver's allow-list), so every message carries its plan
steps' Start links. ``start_and_show`` then, at the end, opens the first email's Start links
as a person would: step 1 (sql-01, whose maintenance the follow-ups completed: the page
re-reads Azure and refuses, saying why), then the next step still to do, confirmed: ARM's
long-running operation is followed to its end, the page says the outcome, and the notice
every receiver gets in the wave's thread is shown as the email receiver got it.
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
    text = re.sub(r"<[^>]+>", " ", answer.text.split("<body>", 1)[-1])
    return textwrap.fill(" ".join(unescape(text).split()), 96, subsequent_indent="    ")


def start_and_show(stack: Any, timeout: float) -> bool:
    mails = stack.sinks.smtp.mails
    links = _LINK.findall(_mail_text(mails[0])) if mails else []
    if len(links) < 2:
        print(f"forewarn demo: the first email carries {len(links)} Start link(s), not 2")
        return False
    print(f"\n=== Start from the message: the first email's Start links, opened by {PERSON} ===")
    step1 = requests.get(links[0], timeout=30)
    print(f"  GET step 1 -> {step1.status_code}\n    {_page(step1)}")
    shown = requests.get(links[1], timeout=30)
    print(f"  GET step 2 -> {shown.status_code}\n    {_page(shown)}")
    if shown.status_code != 200:
        return False
    before = len(mails)
    done = requests.post(links[1], timeout=120)
    print(f"  POST step 2 (Confirm) -> {done.status_code}\n    {_page(done)}")
    if done.status_code != 200:
        return False
    if not stack.wait_until(lambda: len(mails) > before, timeout):
        print("forewarn demo: the outcome notice did not reach the email receiver")
        return False
    text = _mail_text(mails[-1])
    print("\n--- email (email-demo): the wave's thread hears it " + "-" * 30)
    lines = text.splitlines()
    said = [line for line in lines if "from the message" in line or "last result" in line]
    print(textwrap.indent("\n".join([*lines[:6], "  …", *said]), "  "))
    print(
        f"\n  The audit: forewarn wave show <tracking id> lists {PERSON}'s page views, the "
        "refusal, the confirmation and the outcome under each VM."
    )
    return True
