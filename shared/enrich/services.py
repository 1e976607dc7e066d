"""What enrichment reads with: the ARM client, the instance-view reader and its cache, the advice
rules, the plan's settings, Log Analytics and Resource Graph, made once per worker from the
settings and shared by every path that reads VMs (a notice, the sweep, the reminders, a Start).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared import names
from shared.enrich.advice import AdviceRules
from shared.enrich.arm import ArmClient
from shared.enrich.instance_view import (
    InMemoryInstanceViewCache,
    InstanceViewCache,
    InstanceViewReader,
    TableInstanceViewCache,
)
from shared.enrich.plan import (
    DEFAULT_LEAD_MINUTES,
    PlanSettingError,
    PlanSettings,
)
from shared.enrich.resource_graph import (
    ResourceGraph,
    resource_graph_from_settings,
)
from shared.loganalytics.client import LogsReader, logs_reader_from_settings
from shared.storage import StorageServices
from shared.timeutil import Clock, utc_now

# The enrich pipeline's logger: these were part of it, and its warnings keep their name.
log = logging.getLogger("shared.enrich.pipeline")


@dataclass
class EnrichmentServices:
    arm: ArmClient
    reader: InstanceViewReader
    rules: AdviceRules = field(default_factory=AdviceRules)
    plan_settings: PlanSettings = field(default_factory=PlanSettings)
    clock: Clock = utc_now
    logs: LogsReader | None = None  # Log Analytics, for quietest hours; None: no hints
    graph: ResourceGraph | None = None  # Resource Graph for the fleet survey; None: off

    @classmethod
    def create(
        cls,
        environ: Mapping[str, str],
        cache: InstanceViewCache | None = None,
        arm: ArmClient | None = None,
    ) -> EnrichmentServices:
        arm = arm or ArmClient.from_settings(environ)
        reader = InstanceViewReader(arm, cache or InMemoryInstanceViewCache())
        logs = logs_reader_from_settings(environ)
        graph = resource_graph_from_settings(environ, arm)
        return cls(arm, reader, plan_settings=plan_settings_from(environ), logs=logs, graph=graph)

    @classmethod
    def from_settings(
        cls, environ: Mapping[str, str], storage: StorageServices
    ) -> EnrichmentServices:
        """Production: the instance-view cache is the shared Azure Table."""
        table = storage.table(names.TABLE_INSTANCE_VIEWS)
        return cls.create(environ, TableInstanceViewCache(table))


def plan_settings_from(environ: Mapping[str, str]) -> PlanSettings:
    """The plan's lead time from ``FOREWARN_PLAN_LEAD_MINUTES``; a bad value is logged and the
    default used, because a plan a little early beats every event failing enrichment."""
    try:
        return PlanSettings.with_lead(environ.get(names.SETTING_PLAN_LEAD_MINUTES))
    except PlanSettingError as error:
        log.warning(
            "%s: %s; using %s", names.SETTING_PLAN_LEAD_MINUTES, error, DEFAULT_LEAD_MINUTES
        )
        return PlanSettings()
