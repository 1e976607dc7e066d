"""Log Analytics behind one small client: catch-up of missed notices and the quietest hour.

    client.LogsReader       one KQL query in, rows out (real: azure-monitor-query; fake: in memory)
    kql.KqlQuery            a constant query text plus its parameters, bound without string building
    activity                an ``AzureActivity`` row -> the same ``MaintenanceEvent`` as the webhook
    catchup.CatchUp         one pass: query since the checkpoint, enqueue what never arrived
    graph_events            no workspace: Resource Graph's planned-maintenance events as rows
    quietest                one query per event: each VM's quietest hour inside its window

Errors (a failed query is never fatal to the pipeline: callers turn them into notes)::

    LogsError
    ├── LogsUnavailableError   the workspace could not be reached or refused us (retry next run)
    └── LogsQueryFailedError   the service answered with an error for this query (bad query, 4xx)

Everything here is off when ``FOREWARN_LOG_ANALYTICS_WORKSPACE_ID`` is not set, but the
catch-up, which then reads Resource Graph (unless ``FOREWARN_RESOURCE_GRAPH`` is off).
"""

from __future__ import annotations


class LogsError(Exception):
    """Base class of Log Analytics failures."""


class LogsUnavailableError(LogsError):
    """The workspace could not be reached, or refused the credential; try again later."""


class LogsQueryFailedError(LogsError):
    """The service rejected or failed this query as a whole (no rows came back)."""
