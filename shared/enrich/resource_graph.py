"""Azure Resource Graph over the ARM client: which VMs of a whole tenant have maintenance
pending, in a few paged queries instead of a read per VM.

    POST {arm}/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01
    {"subscriptions": [... at most 1,000 ...], "query": <graph_queries.py>,
     "options": {"resultFormat": "objectArray", "$top": 1000, "$skipToken": ...}}

Why the ARM client and not ``azure-mgmt-resourcegraph``: it is one POST, and the client already
has the token, the origin check, the retries and the pacing; the SDK would add its generated
models and azure-mgmt-core to every cold start (measured in docs/decisions.md).

Batches: the REST API takes at most 1,000 subscriptions a query (Microsoft Learn,
resource-graph/troubleshoot/general, "Too many subscriptions"). Pages: ``$top`` rows, then
``$skipToken`` from the answer until there is none. Quota: every answer carries
``x-ms-user-quota-remaining`` and ``x-ms-user-quota-resets-after``; the pacer's
``QuotaWindow`` holds the next query until the window resets when none is left, and a 429
holds every query for its ``Retry-After`` (``ArmClient.request``), so there is no 429 storm.

What goes wrong, and what the caller makes of it:
    ArmForbiddenError   (403) for a batch: halved until the refused subscriptions stand
                        alone; those are read the old way
    ArmAuthenticationError  raised, as for every ARM call
    any other ArmError  Resource Graph is unavailable: everything is read the old way
Either fallback is a line in the log (info: the old path's own notes say what it could not
read), never a note in a message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from shared import names
from shared.enrich import graph_queries
from shared.enrich.arm import ArmClient
from shared.enrich.discovery import VmList, region_key
from shared.enrich.errors import ArmAuthenticationError, ArmError, ArmForbiddenError
from shared.enrich.graph_queries import GraphQuery
from shared.enrich.instance_view import VmRef
from shared.enrich.pacing import Operation
from shared.models import EnrichmentNote

log = logging.getLogger(__name__)

API_PATH: Final = "/providers/Microsoft.ResourceGraph/resources"
API_VERSION: Final = "2022-10-01"
MAX_SUBSCRIPTIONS: Final = 1000  # per query, the REST API's limit
PAGE_ROWS: Final = 1000  # $top: the most rows one page may hold
PARAMS: Final = {"api-version": API_VERSION}
# Tenant scope covers the first 10,000 subscriptions the identity can read, and says so
# (Microsoft Learn, resource-graph/concepts/guidance-for-throttled-requests).
TENANT_LIMIT: Final = 10_000
TENANT_LIMIT_HEADER: Final = "x-ms-tenant-subscription-limit-hit"
OFF_VALUES: Final = frozenset({"off", "false", "0", "no"})
ON_VALUES: Final = frozenset({"on", "true", "1", "yes", ""})


class ResourceGraphAnswerError(ArmError):
    """Resource Graph answered something that is not a page of rows."""


@dataclass
class GraphAnswer:
    rows: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # subscriptions answered 403
    requests: int = 0
    truncated: bool = False  # tenant scope beyond 10,000 subscriptions: the rest unseen


class ResourceGraph:
    """Runs forewarn's fixed queries over many subscriptions, batched and paged."""

    def __init__(
        self,
        arm: ArmClient,
        *,
        batch_size: int = MAX_SUBSCRIPTIONS,
        page_rows: int = PAGE_ROWS,
    ) -> None:
        self.arm = arm
        self.batch_size = max(1, min(batch_size, MAX_SUBSCRIPTIONS))
        self.page_rows = max(1, min(page_rows, PAGE_ROWS))
        self.requests = 0  # every query page sent, for the sweep's and the benchmark's figures

    def query(self, query: GraphQuery, subscriptions: Iterable[str] | None) -> GraphAnswer:
        """Every row for ``subscriptions`` (``None``: every subscription the identity can
        read, Resource Graph's tenant scope). Subscriptions answered 403 are listed in
        ``refused``, the rows of the others kept; other failures raise (``ArmError``)."""
        answer = GraphAnswer()
        text = query.text()
        if subscriptions is None:
            self._pages(text, None, answer)
            return answer
        wanted = sorted({s.lower() for s in subscriptions if s.strip()})
        batches = [
            wanted[start : start + self.batch_size]
            for start in range(0, len(wanted), self.batch_size)
        ]
        while batches:
            batch = batches.pop(0)
            try:
                self._pages(text, batch, answer)
            except ArmForbiddenError as error:
                if len(batch) > 1:
                    # Which of them? Halves, until the refused ones stand alone: a forbidden
                    # subscription costs about log2(batch) queries, not the whole batch.
                    middle = len(batch) // 2
                    batches[:0] = [batch[:middle], batch[middle:]]
                    continue
                log.info(
                    "Resource Graph refused %s for subscription %s (%s)",
                    query.name,
                    batch[0],
                    error.code or "403",
                )
                answer.refused.extend(batch)
        return answer

    def _pages(self, text: str, batch: list[str] | None, answer: GraphAnswer) -> None:
        skip_token: str | None = None
        while True:
            options: dict[str, Any] = {"resultFormat": "objectArray", "$top": self.page_rows}
            if skip_token:
                options["$skipToken"] = skip_token
            body: dict[str, Any] = {"query": text, "options": options}
            if batch is not None:
                body["subscriptions"] = batch
            self.requests += 1
            answer.requests += 1
            response = self.arm.request(
                "POST", API_PATH, Operation.GRAPH_QUERY, params=PARAMS, body=body
            )
            if batch is None and response.headers.get(TENANT_LIMIT_HEADER, "").lower() == "true":
                answer.truncated = True
                log.warning(
                    "Resource Graph answered for the first %d subscriptions only; list the "
                    "watched ones in %s",
                    TENANT_LIMIT,
                    names.SETTING_ALLOWED_SUBSCRIPTIONS,
                )
            page = response.body
            data = page.get("data")
            if not isinstance(data, list):
                raise ResourceGraphAnswerError("Resource Graph answered without a row list")
            answer.rows.extend(row for row in data if isinstance(row, dict))
            token = page.get("$skipToken")
            if not token or not isinstance(token, str):
                return
            skip_token = token


GRAPH_ON: Final = "on"
GRAPH_OFF: Final = "off"


def resource_graph_state(environ: Mapping[str, str]) -> str:
    """``on`` unless ``FOREWARN_RESOURCE_GRAPH`` says off; a value that is neither is logged
    and taken as on (the old path stays behind it either way). ``/api/health`` says it."""
    value = environ.get(names.SETTING_RESOURCE_GRAPH, "").strip().lower()
    if value in OFF_VALUES:
        return GRAPH_OFF
    if value not in ON_VALUES:
        log.warning("%s=%r is neither on nor off; on", names.SETTING_RESOURCE_GRAPH, value)
    return GRAPH_ON


def resource_graph_from_settings(
    environ: Mapping[str, str], arm: ArmClient
) -> ResourceGraph | None:
    """A ``ResourceGraph`` when ``resource_graph_state`` is on, else ``None``."""
    return ResourceGraph(arm) if resource_graph_state(environ) == GRAPH_ON else None


# --------------------------------------------------------------------------------------
# The survey: which VMs to read


@dataclass
class GraphSurvey:
    """What Resource Graph says of the watched subscriptions."""

    refs: list[VmRef] = field(default_factory=list)  # VMs with maintenance pending
    shutdown: set[str] = field(default_factory=set)  # lower-cased ids, auto-shutdown on
    fallback: list[str] = field(default_factory=list)  # subscriptions to read the old way
    notes: list[EnrichmentNote] = field(default_factory=list)
    requests: int = 0


def _fallback(subscriptions: list[str], why: str) -> None:
    # A line in the log, not a note in the pass: the old path reads these subscriptions and
    # its own notes say what it could not read; the readers of a message have nothing to do
    # about how forewarn found its VMs.
    log.info("Resource Graph %s: %d subscription(s) read VM by VM instead", why, len(subscriptions))


def survey_with_graph(graph: ResourceGraph, subscriptions: list[str]) -> GraphSurvey:
    """The VMs with maintenance pending in ``subscriptions``, and who has auto-shutdown.

    Only the watched subscriptions are admitted (``VmList``), whatever an answer holds."""
    wanted = sorted({s.lower() for s in subscriptions})
    survey = GraphSurvey()
    try:
        pending = graph.query(graph_queries.maintenance_vms(), wanted)
        schedules = graph.query(graph_queries.shutdown_schedules(), wanted)
    except ArmAuthenticationError:
        raise
    except ArmError as error:
        _fallback(wanted, f"unavailable ({type(error).__name__}: {error})")
        survey.fallback = wanted
        survey.requests = graph.requests
        return survey
    survey.requests = pending.requests + schedules.requests
    refused = sorted({*pending.refused, *schedules.refused})
    if refused:
        survey.fallback = refused
        _fallback(refused, "refused (403)")
    readable = [s for s in wanted if s not in set(refused)]
    found = VmList.within(readable)
    for row in pending.rows:
        vm_id = row.get("vmId")
        if isinstance(vm_id, str) and vm_id:
            found.add(vm_id, source="Resource Graph")
    survey.refs = found.refs
    survey.notes.extend(found.notes)
    survey.shutdown = {
        str(row["vmId"]).lower() for row in schedules.rows if isinstance(row.get("vmId"), str)
    }
    return survey


def wave_vms_with_graph(
    graph: ResourceGraph, subscription: str, regions: Iterable[str]
) -> VmList | None:
    """An incoming notice's VMs when Azure names none: those of ``subscription`` with
    maintenance pending, in ``regions`` (all when none), as Resource Graph lists them.

    ``None`` when Resource Graph refuses the subscription, is unavailable or lists none there:
    the caller reads the VM list instead, as the sweep does (a line in the log, no note). A
    row without a region (a VM ``resources`` no longer holds) is read all the same: its read
    says what became of it, as the VM list's deleted VMs do."""
    try:
        answer = graph.query(graph_queries.wave_vms(), [subscription])
    except ArmAuthenticationError:
        raise
    except ArmError as error:
        _fallback([subscription], f"unavailable ({type(error).__name__}: {error})")
        return None
    if answer.refused:
        _fallback(answer.refused, "refused (403)")
        return None
    wanted = {region_key(region) for region in regions}
    found = VmList.within([subscription])
    for row in answer.rows:
        vm_id, location = row.get("vmId"), row.get("location")
        if not isinstance(vm_id, str) or not vm_id:
            continue
        where = location if isinstance(location, str) and location else None
        if wanted and where is not None and region_key(where) not in wanted:
            continue
        found.add(vm_id, location=where, source="Resource Graph")
    if not found.refs and not found.notes:
        # Nothing pending there, or not indexed yet (Resource Graph lags ARM by minutes, and a
        # first notice must not wait for it): the VM list decides, as before.
        _fallback([subscription], "lists no VM with maintenance pending there")
        return None
    return found
