"""One delivery worker in a process of its own, for tests that kill it mid-send.

    python -m tests.support.delivery_worker MESSAGE_FILE LEASE_SECONDS

Settings (storage, receivers' secrets) come from the environment, as the Functions host gives
them; the message is one delivery queue message's text. Prints the outcome's action.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

from shared.channels import default_senders
from shared.delivery.stage import DeliveryStage
from shared.storage import StorageServices


def main(argv: list[str]) -> int:
    message_file, lease_seconds = argv
    settings = dict(os.environ)
    stage = DeliveryStage(
        StorageServices.from_settings(settings),
        default_senders(settings),
        environ=settings,
        lease=timedelta(seconds=float(lease_seconds)),
    )
    print(stage.handle(Path(message_file).read_text(encoding="utf-8")).action, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
