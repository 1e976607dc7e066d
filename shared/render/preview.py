"""One local HTML page showing every channel's message as its recipient would see it.

The email's HTML part is shown as sent (in a sandboxed ``iframe srcdoc``); Slack blocks and the
Teams card are drawn from the payload (not re-rendered from facts): the Slack details reply as
a thread under the top message, the Teams "Details" card as a disclosure that opens on click,
as Teams' ``Action.ShowCard`` does. The SMS is a phone bubble with its segment count, the
webhook document JSON. Self-contained: inline CSS, no scripts, and a Content-Security-Policy
that forbids fetching anything. One column on a phone-width screen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from html import escape, unescape
from typing import Any

from shared.models import Receiver, RenderedMessage

_CSS = """
body{margin:0;background:#eef0f3;font-family:Segoe UI,Helvetica,Arial,sans-serif;color:#1d1c1d}
header.page{background:#1f2937;color:#fff;padding:14px 24px}
header.page h1{font-size:18px;margin:0}
header.page p{margin:4px 0 0 0;color:#cbd5e1;font-size:13px}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(520px,100%),1fr));gap:20px;
 padding:20px}
@media (max-width:600px){main{padding:8px;gap:12px}.pad,.slack{padding:10px}}
section.channel{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15);
 overflow:hidden}
section.channel>h2{margin:0;padding:10px 16px;font-size:14px;background:#f8fafc;
 border-bottom:1px solid #e5e7eb;text-transform:uppercase;letter-spacing:.04em}
section.channel>h2 small{text-transform:none;letter-spacing:0;color:#6b7280;font-weight:normal}
.pad{padding:14px 16px}
.mailhead{font-size:13px;border-bottom:1px solid #e5e7eb;padding:10px 16px;background:#fafafa}
.mailhead b{display:inline-block;width:64px;color:#6b7280;font-weight:normal}
iframe.mail{width:100%;height:1100px;border:0}
details{padding:8px 16px 14px 16px;font-size:13px}
pre{white-space:pre-wrap;word-break:break-word;font-size:12px;background:#f6f8fa;padding:10px;
 border-radius:6px;max-height:520px;overflow:auto}
.slack{display:flex;gap:10px;padding:14px 16px;font-size:15px;line-height:1.45}
.slack .avatar{width:36px;height:36px;border-radius:6px;background:#4a154b;color:#fff;
 display:flex;align-items:center;justify-content:center;font-weight:bold;flex:none}
.slack .who{font-weight:900}.slack .who span{font-weight:normal;color:#616061;font-size:12px;
 margin-left:6px;background:#e8e8e8;padding:0 4px;border-radius:3px}
.sl-header{font-size:18px;font-weight:900;margin:6px 0}
.sl-section{margin:6px 0}.sl-context{color:#616061;font-size:12px;margin:6px 0}
.sl-button{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:3px 12px;
 margin:6px 6px 0 0;color:#1d1c1d;text-decoration:none;font-weight:bold;font-size:13px}
.slack code{background:#f6f6f6;border:1px solid #ddd;border-radius:3px;padding:0 3px;
 color:#e01e5a;font-size:12px;word-break:break-all}
.slack hr{border:0;border-top:1px solid #ddd}
.sl-thread{margin:8px 0 0 0;padding:6px 0 0 12px;border-left:3px solid #e0e0e0}
.sl-replies{color:#1264a3;font-size:13px;font-weight:bold;margin:8px 0 0 0}
.tm-show summary{list-style:none;cursor:pointer}
.tm-show[open]>summary{background:#5b5fc7;color:#fff}
.tm-show>.tm-card{margin-top:8px;box-shadow:none;border:1px solid #e0e0e0}
.teams{background:#f5f5f5;padding:16px}
.tm-card{background:#fff;border-radius:6px;padding:14px 16px;box-shadow:0 1px 2px rgba(0,0,0,.2);
 font-size:14px}
.tm-text{margin:4px 0}.tm-large{font-size:20px}.tm-bolder{font-weight:600}
.tm-subtle{color:#616161}.tm-small{font-size:12px}
.tm-mono{font-family:Consolas,Menlo,monospace;word-break:break-all}
.tm-sep{border-top:1px solid #e0e0e0;margin-top:10px;padding-top:8px}
table.tm-facts{border-collapse:collapse;margin:4px 0}
table.tm-facts td{padding:2px 12px 2px 0;vertical-align:top}
table.tm-facts td:first-child{font-weight:600}
.tm-action{display:inline-block;margin:10px 8px 0 0;padding:6px 14px;border:1px solid #5b5fc7;
 color:#5b5fc7;border-radius:4px;text-decoration:none;font-weight:600}
.phone{margin:16px auto;width:300px;border:10px solid #111;border-radius:32px;background:#fff;
 padding:40px 12px 60px 12px;box-sizing:border-box}
.bubble{background:#e5e5ea;border-radius:18px;padding:8px 12px;font-size:14px;line-height:1.35;
 word-break:break-word;max-width:240px}
.sms-meta{text-align:center;color:#6b7280;font-size:12px;margin-bottom:14px}
"""

_SLACK_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_SLACK_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_SLACK_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")
_SLACK_CODE = re.compile(r"`([^`\n]+)`")
_TEAMS_BOLD = re.compile(r"(?<!\\)\*\*(.+?)(?<!\\)\*\*")
_TEAMS_UNESCAPE = re.compile(r"\\([\\*_\[\]<>#+\-.])")
_TEAMS_ESCAPED_ANGLE = re.compile(r"\\(&lt;|&gt;)")


def _mrkdwn(text: str) -> str:
    """Slack mrkdwn as HTML: entities decoded then escaped again, links, bold, italic, code."""
    out: list[str] = []
    last = 0
    for found in _SLACK_LINK.finditer(text):
        out.append(escape(unescape(text[last : found.start()])))
        url = unescape(found.group(1))
        label = unescape(found.group(2) or found.group(1))
        out.append(f'<a href="{escape(url)}">{escape(label)}</a>')
        last = found.end()
    out.append(escape(unescape(text[last:])))
    html = "".join(out)
    html = _SLACK_CODE.sub(r"<code>\1</code>", html)
    html = _SLACK_BOLD.sub(r"<b>\1</b>", html)
    html = _SLACK_ITALIC.sub(r"<i>\1</i>", html)
    return html.replace("\n", "<br>")


def _slack_blocks(blocks: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            parts.append(f'<div class="sl-header">{escape(unescape(block["text"]["text"]))}</div>')
        elif kind == "section":
            parts.append(f'<div class="sl-section">{_mrkdwn(block["text"]["text"])}</div>')
        elif kind == "divider":
            parts.append("<hr>")
        elif kind == "context":
            texts = " ".join(_mrkdwn(element.get("text", "")) for element in block["elements"])
            parts.append(f'<div class="sl-context">{texts}</div>')
        elif kind == "actions":
            for element in block["elements"]:
                label = escape(element["text"]["text"])
                parts.append(
                    f'<a class="sl-button" href="{escape(element.get("url", "#"))}">{label}</a>'
                )
    return "".join(parts)


def _slack(message: RenderedMessage) -> str:
    payload = message.payload or {}
    top = _slack_blocks(payload.get("blocks", []))
    replies = [reply for reply in payload.get("thread", []) if isinstance(reply, dict)]
    thread = ""
    if replies:
        count = f"{len(replies)} repl{'y' if len(replies) == 1 else 'ies'}"
        drawn = "".join(
            '<div class="sl-thread"><div class="who">forewarn<span>APP</span></div>'
            f"{_slack_blocks(reply.get('blocks', []))}</div>"
            for reply in replies
        )
        thread = f'<div class="sl-replies">{count}</div>{drawn}'
    return (
        '<div class="slack"><div class="avatar">F</div><div><div class="who">forewarn'
        f"<span>APP</span></div>{top}{thread}</div></div>"
        f"<details><summary>Notification text (fallback)</summary><pre>{escape(message.text)}</pre>"
        f"</details>"
    )


def _teams_text(text: str) -> str:
    html = escape(text)
    html = _TEAMS_BOLD.sub(r"<b>\1</b>", html)
    html = _TEAMS_UNESCAPE.sub(r"\1", html)
    html = _TEAMS_ESCAPED_ANGLE.sub(r"\1", html)  # "\<" was HTML-escaped to "\&lt;" above
    return html.replace("\n\n", "<br>").replace("\n", "<br>")


def _teams_element(element: dict[str, Any]) -> str:
    kind = element.get("type")
    if kind == "TextBlock":
        classes = ["tm-text"]
        if element.get("size") == "Large":
            classes.append("tm-large")
        if element.get("size") == "Small":
            classes.append("tm-small")
        if element.get("weight") == "Bolder":
            classes.append("tm-bolder")
        if element.get("isSubtle"):
            classes.append("tm-subtle")
        if element.get("fontType") == "Monospace":
            classes.append("tm-mono")
        if element.get("separator"):
            classes.append("tm-sep")
        return f'<div class="{" ".join(classes)}">{_teams_text(element.get("text", ""))}</div>'
    if kind == "FactSet":
        rows = "".join(
            f"<tr><td>{_teams_text(fact['title'])}</td><td>{_teams_text(fact['value'])}</td></tr>"
            for fact in element.get("facts", [])
        )
        return f'<table class="tm-facts">{rows}</table>'
    if kind == "Container":
        inner = "".join(_teams_element(item) for item in element.get("items", []))
        return f'<div class="{"tm-sep" if element.get("separator") else ""}">{inner}</div>'
    return ""


def _teams_action(action: dict[str, Any]) -> str:
    title = escape(action.get("title", ""))
    if action.get("type") == "Action.ShowCard":
        inner = "".join(_teams_element(item) for item in action.get("card", {}).get("body", []))
        return (
            f'<details class="tm-show"><summary class="tm-action">{title}</summary>'
            f'<div class="tm-card">{inner}</div></details>'
        )
    return f'<a class="tm-action" href="{escape(action.get("url", "#"))}">{title}</a>'


def _teams(message: RenderedMessage) -> str:
    attachments = (message.payload or {}).get("attachments", [])
    card = attachments[0]["content"] if attachments else {}
    body = "".join(_teams_element(element) for element in card.get("body", []))
    actions = "".join(_teams_action(action) for action in card.get("actions", []))
    return f'<div class="teams"><div class="tm-card">{body}{actions}</div></div>'


def _email(receiver: Receiver, message: RenderedMessage) -> str:
    to = escape(", ".join(receiver.targets) or receiver.name)
    return (
        f'<div class="mailhead"><div><b>From</b>{escape(receiver.options.get("from", "forewarn"))}'
        f"</div><div><b>To</b>{to}</div><div><b>Subject</b>{escape(message.subject)}</div></div>"
        '<iframe class="mail" sandbox="" title="email HTML part" '
        f'srcdoc="{escape(message.html or "")}">'
        f"</iframe><details><summary>Text part</summary><pre>{escape(message.text)}</pre></details>"
    )


def _sms(message: RenderedMessage) -> str:
    meta = message.meta
    segments = int(meta.get("segments", 1))
    return (
        f'<div class="phone"><div class="sms-meta">{segments} segment{"s" if segments != 1 else ""}'
        f" · {escape(str(meta.get('encoding', '')))} · {len(message.text)} characters</div>"
        f'<div class="bubble">{escape(message.text)}</div></div>'
    )


def _webhook(message: RenderedMessage) -> str:
    body = json.dumps(message.payload, indent=2, ensure_ascii=False)
    return f'<div class="pad"><pre>{escape(body)}</pre></div>'


def build_preview(messages: Sequence[tuple[Receiver, RenderedMessage]], title: str) -> str:
    sections = []
    for receiver, message in messages:
        if message.channel == "email":
            inner = _email(receiver, message)
        elif message.channel == "slack":
            inner = _slack(message)
        elif message.channel == "teams":
            inner = _teams(message)
        elif message.channel == "sms":
            inner = _sms(message)
        else:
            inner = _webhook(message)
        size = message.meta.get("bytes") or message.meta.get("html_bytes")
        detail = f" · {size:,} bytes" if isinstance(size, int) else ""
        sections.append(
            f'<section class="channel" id="channel-{escape(message.channel)}" '
            f'data-channel="{escape(message.channel)}"><h2>{escape(message.channel)} '
            f"<small>→ {escape(receiver.name)} ({escape(receiver.timezone)}){detail}</small></h2>"
            f"{inner}</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>forewarn preview: {escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<header class="page"><h1>{escape(title)}</h1><p>What each receiver would get, '
        "drawn from the rendered messages.</p></header>"
        f"<main>{''.join(sections)}</main></body></html>\n"
    )
