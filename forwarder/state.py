"""What the forwarder remembers across restarts, in one JSON file written atomically.

``known`` is the last Scheduled Events document seen, ``outbox`` the posts not yet taken by
the app, ``drains`` the drain outcome of each event. A poll's changes enter the outbox in the
same write that updates ``known``, so a restart at any point neither loses a change (it is in
the outbox) nor finds it again (it is in ``known``). A crash between the app's answer and the
write that removes the post sends it once more; the app drops it by its key.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class State:
    incarnation: int = -1
    known: dict[str, dict[str, Any]] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    drains: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> State:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        return cls(
            incarnation=int(document.get("incarnation", -1)),
            known=dict(document.get("known", {})),
            outbox=list(document.get("outbox", [])),
            drains=dict(document.get("drains", {})),
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(
            {
                "incarnation": self.incarnation,
                "known": self.known,
                "outbox": self.outbox,
                "drains": self.drains,
            },
            sort_keys=True,
        )
        # Write beside, fsync, rename: a power cut leaves the old file or the new, never half.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
