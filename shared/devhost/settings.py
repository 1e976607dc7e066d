"""Settings for the dev host: environment first, then ``local.settings.json`` Values."""

from __future__ import annotations

import json
import os
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def load_local_settings(path: Path, environ: MutableMapping[str, str]) -> list[str]:
    """Copy ``Values`` into ``environ`` where not already set; return the names copied."""
    if not path.exists():
        return []
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    copied = []
    for key, value in values.items():
        if key not in environ and value is not None:
            environ[key] = str(value)
            copied.append(key)
    return copied


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")


def timespan_seconds(text: str) -> float:
    """``hh:mm:ss`` or ``d.hh:mm:ss`` as host.json writes durations."""
    match = _TIMESPAN.match(text.strip())
    if not match:
        raise ValueError(f"not a host.json timespan: {text!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    """``extensions.queues`` of host.json, with the Functions host's defaults."""

    batch_size: int = 16
    max_dequeue_count: int = 5
    visibility_timeout_seconds: float = 0.0
    max_polling_interval_seconds: float = 60.0

    @classmethod
    def from_host_json(cls, path: Path) -> QueueOptions:
        if not path.exists():
            return cls()
        host: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        queues = host.get("extensions", {}).get("queues", {})
        return cls(
            batch_size=int(queues.get("batchSize", 16)),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout_seconds=timespan_seconds(queues.get("visibilityTimeout", "0:0:0")),
            max_polling_interval_seconds=timespan_seconds(
                queues.get("maxPollingInterval", "00:01:00")
            ),
        )


def project_root() -> Path:
    return Path(os.environ.get("FOREWARN_PROJECT_ROOT", Path.cwd()))
