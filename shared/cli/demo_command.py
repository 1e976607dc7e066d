"""``forewarn demo``: a real sample maintenance alert through the whole app, on 127.0.0.1.

It starts Azurite, a stand-in ARM holding a small East US fleet, stand-in SMTP, Twilio,
Slack, Teams and webhook receivers, and hosts the real ``function_app``; posts Microsoft's
Service Health maintenance sample to ``POST /api/alerts``; waits until every receiver has its
message; prints what each received and writes ``demo-output/preview.html`` showing each
message as its recipient would see it. The stand-ins are the package ``shared.standins``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from shared.cli.demo_loganalytics import catch_up_and_show, show_quietest, stand_in_workspace
from shared.cli.demo_show import received_messages, show


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
        from shared.cli.demo_start import enable, refusals_and_show, start_step_one

        enable(stack)  # Start from the message: its links in every message (demo_start.py)
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
        started = start_step_one(stack, args.timeout)  # step 1 from its signed link
        if started is None:
            return 1
        from shared.cli.demo_followups import follow_up_and_show

        followed = follow_up_and_show(stack, args.timeout)
        if followed is None:
            return 1
        from shared.cli.demo_scheduled import scheduled_and_show

        minute = scheduled_and_show(stack, args.timeout)
        if minute is None:
            return 1
        from shared.render.preview import build_preview

        page = args.out / "preview.html"
        page.write_text(
            build_preview(
                [*received, *started, *followed, *minute],
                "forewarn demo: what each channel received",
            ),
            encoding="utf-8",
        )
        print(f"\nEvery channel's message as its recipient sees it: {page}")
        from shared.cli.demo_board import board_and_show

        board_page = board_and_show(stack, args.out)
        if board_page is None:
            return 1
        print(f"The wave's board, the page GET /api/waves/... serves: {board_page}")
        if not refusals_and_show(stack):
            return 1
    return 0
