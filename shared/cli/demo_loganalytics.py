"""The Log Analytics part of ``forewarn demo``: quietest hours and a recovered notice.

A stand-in workspace on 127.0.0.1 holds 14 days of CPU history for the demo's database VMs
(quiet at one hour each week) and the Activity Log row of one notice that no webhook brought.
Enrichment asks it for quietest hours; after the posted alert is delivered, one catch-up pass
finds the missing notice and sends it on, marked recovered.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from typing import Any

from shared import names
from shared.models import Receiver, RenderedMessage

QUIET_VMS = ("sql-01", "sql-02")


@contextlib.contextmanager
def stand_in_workspace() -> Iterator[Any]:
    """The stand-in workspace, seeded, with the settings that point the app at it."""
    from shared.standins.demo_workspace import seeded_workspace

    keys = (names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, names.SETTING_LOG_ANALYTICS_ENDPOINT)
    saved = {key: os.environ.get(key) for key in keys}
    workspace = seeded_workspace()
    with workspace:
        os.environ[names.SETTING_LOG_ANALYTICS_WORKSPACE_ID] = workspace.workspace_id
        os.environ[names.SETTING_LOG_ANALYTICS_ENDPOINT] = workspace.base_url
        try:
            yield workspace
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def show_quietest(received: list[tuple[Receiver, RenderedMessage]]) -> None:
    email = next((m.text for _, m in received if m.channel == "email"), "")
    found: list[str] = []
    lines = email.splitlines()
    for index, line in enumerate(lines):
        if "quietest:" in line:
            # The email wraps long lines: the item goes on until a blank line or the next item.
            rest = itertools.takewhile(
                lambda text: bool(text.strip()) and not text.lstrip().startswith("- "),
                lines[index + 1 :],
            )
            found.append(" ".join([line.strip(), *(part.strip() for part in rest)]))
    print("\n--- quietest hours (Log Analytics, one query for the event) " + "-" * 16)
    for line in found or ["(none found in the email)"]:
        print(f"  {line}")


def catch_up_and_show(stack: Any, timeout: float) -> bool:
    """One catch-up pass; True when the notice it recovered reached every receiver."""
    from shared.loganalytics.catchup import CatchUp

    runner = CatchUp.from_settings(os.environ)
    if runner is None:
        return False
    report = runner.run()
    print("\n--- catch-up (Log Analytics AzureActivity) " + "-" * 33)
    for finding in report.findings:
        queued = ", queued marked recovered" if finding.queued else ""
        print(f"  {finding.verdict}{queued}: {finding.event_id} {finding.title[:60]}")
    for note in report.notes:
        print(f"  note: {note}")
    if not report.queued:
        return False
    if not stack.wait_for_deliveries(2, timeout):
        print(f"forewarn demo: the recovered notice did not reach everyone: {stack.deliveries()}")
        return False
    recovered = {finding.event_id for finding in report.queued}
    documents = [d.document for d in stack.sinks.webhook.deliveries]
    reached = [d for d in documents if d.get("event_id") in recovered]
    event_id = reached[0]["event_id"] if reached else "?"
    print(f"  recovered notice delivered to every channel (webhook: event {event_id})")
    return True
