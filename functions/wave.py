"""What the sweep and reminder timers share within one worker process."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from functions import enrich
from shared.routing.config import ConfigCache, config_path

if TYPE_CHECKING:
    from shared.wave.runner import WaveRunner

# The routing file is parsed again only when it changes, as in the route function.
_configs = ConfigCache()


def wave_runner() -> WaveRunner:
    # The enrich stage's ARM client: one set of token buckets per process, so that a sweep
    # and enrichment running side by side draw from the same budget. The runner is imported
    # here, at a timer's first run: importing it with function_app slowed every worker's start.
    from shared.wave.runner import WaveRunner

    stage = enrich._stage()
    return WaveRunner.from_settings(
        os.environ, stage.services, stage.storage, _configs.get(config_path(os.environ))
    )
