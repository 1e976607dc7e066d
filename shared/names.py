"""Every name that code, infrastructure and documentation must agree on.

Queues, tables, the payload container, function names and settings live here and nowhere
else. ``infra/`` (Bicep) declares the same names; ``tests/unit/test_names_match_infra.py``
reads both and fails when they drift apart.
"""

from __future__ import annotations

from typing import Final

# --- Storage connection ---------------------------------------------------------------
# The Functions host resolves a binding's ``connection`` by this prefix: either the plain
# setting (a connection string, as Azurite uses) or ``AzureWebJobsStorage__*`` settings for
# identity-based connections in Azure.
STORAGE_CONNECTION: Final = "AzureWebJobsStorage"

# --- Queues ---------------------------------------------------------------------------
QUEUE_EVENTS: Final = "events"  # ingest -> enrich: one MaintenanceEvent per message
QUEUE_ENRICHED: Final = "enriched"  # enrich -> route: one EnrichedEvent per message
QUEUE_DELIVER_EMAIL: Final = "deliver-email"
QUEUE_DELIVER_SMS: Final = "deliver-sms"
QUEUE_DELIVER_SLACK: Final = "deliver-slack"
QUEUE_DELIVER_TEAMS: Final = "deliver-teams"
QUEUE_DELIVER_WEBHOOK: Final = "deliver-webhook"
QUEUE_DELIVER_PAGERDUTY: Final = "deliver-pagerduty"  # PagerDuty Events API v2

CHANNELS: Final = ("email", "sms", "slack", "teams", "webhook", "pagerduty")
DELIVERY_QUEUES: Final = {
    "email": QUEUE_DELIVER_EMAIL,
    "sms": QUEUE_DELIVER_SMS,
    "slack": QUEUE_DELIVER_SLACK,
    "teams": QUEUE_DELIVER_TEAMS,
    "webhook": QUEUE_DELIVER_WEBHOOK,
    "pagerduty": QUEUE_DELIVER_PAGERDUTY,
}
ALL_QUEUES: Final = (QUEUE_EVENTS, QUEUE_ENRICHED, *DELIVERY_QUEUES.values())
MAX_DEQUEUE_COUNT: Final = 5  # host.json extensions.queues.maxDequeueCount (a test checks)
POISON_SUFFIX: Final = "-poison"  # the Functions host's convention, kept by `forewarn serve`

# --- Tables ---------------------------------------------------------------------------
TABLE_IDEMPOTENCY: Final = "idempotency"  # event id + receiver -> delivered once
TABLE_DELIVERY_LOG: Final = "deliverylog"  # every delivery attempt
TABLE_DEAD_LETTER: Final = "deadletter"  # undeliverable jobs with their reason
TABLE_MESSAGE_REFS: Final = "messagerefs"  # Slack ts, email Message-ID, for updates
TABLE_SILENCES: Final = "silences"
TABLE_INSTANCE_VIEWS: Final = "instanceviews"  # short-lived cache shared by a wave
TABLE_CATCHUP: Final = "catchup"  # the catch-up's checkpoint and the events it recovered
# One row per VM with planned maintenance, followed to its end (shared/wave/records.py).
TABLE_MAINTENANCE_RECORDS: Final = "maintenancerecords"
# A VM's record as a wave left it, once a later wave started the VM afresh (wave/history.py).
TABLE_ENDED_RECORDS: Final = "endedrecords"
# One row per wave and notice type gathered during the grouping interval (routing/gather.py).
TABLE_EVENT_GROUPS: Final = "eventgroups"
# One row per event id taken in (ingest or catch-up): drops re-posts, tells catch-up what came.
TABLE_ACCEPTED: Final = "acceptedevents"
# Claims and snoozes of VMs and waves (shared/wave/claims.py).
TABLE_CLAIMS: Final = "claims"
# Action links used once (shared/actions.py): a link that did its work cannot do it again.
TABLE_ACTIONS_USED: Final = "actionsused"
# Slack button presses handled once (shared/slack_interactivity.py): a replay changes nothing.
TABLE_SLACK_REQUESTS: Final = "slackrequests"
# Every Start press, confirmation, refusal and outcome (shared/start/audit.py).
TABLE_ACTION_AUDIT: Final = "actionaudit"
ALL_TABLES: Final = (
    TABLE_IDEMPOTENCY,
    TABLE_DELIVERY_LOG,
    TABLE_DEAD_LETTER,
    TABLE_MESSAGE_REFS,
    TABLE_SILENCES,
    TABLE_INSTANCE_VIEWS,
    TABLE_CATCHUP,
    TABLE_MAINTENANCE_RECORDS,
    TABLE_ENDED_RECORDS,
    TABLE_EVENT_GROUPS,
    TABLE_ACCEPTED,
    TABLE_CLAIMS,
    TABLE_ACTIONS_USED,
    TABLE_SLACK_REQUESTS,
    TABLE_ACTION_AUDIT,
)

# --- Blob container for payloads too large for a queue message (claim check) ----------
CONTAINER_PAYLOADS: Final = "payloads"
ALL_CONTAINERS: Final = (CONTAINER_PAYLOADS,)

# --- Functions ------------------------------------------------------------------------
FUNCTION_INGEST: Final = "ingest_alert"
FUNCTION_HEALTH: Final = "health"
FUNCTION_ENRICH: Final = "enrich_event"
FUNCTION_ROUTE: Final = "route_event"
FUNCTION_CATCHUP: Final = "catch_up"  # timer: notices the webhook never brought
FUNCTION_DELIVER: Final = {channel: f"deliver_{channel}" for channel in CHANNELS}
FUNCTION_SWEEP: Final = "sweep_wave"
FUNCTION_REMINDERS: Final = "remind_wave"
FUNCTION_SCHEDULED_EVENTS: Final = "scheduled_events"
# Event Grid trigger: the MaintenanceResources system topic's ScheduledEventEmitted (no agent)
FUNCTION_SCHEDULED_EVENTS_EVENTGRID: Final = "scheduled_events_eventgrid"
ROUTE_ALERTS: Final = "alerts"  # POST /api/alerts
ROUTE_HEALTH: Final = "health"  # GET /api/health
ROUTE_SCHEDULED_EVENTS: Final = "scheduled-events"  # POST /api/scheduled-events (forwarder/)
FUNCTION_ACTIONS: Final = "action_link"
ROUTE_ACTIONS: Final = "actions/{token}"  # GET shows, POST does (shared/actions.py)
FUNCTION_SLACK_INTERACTIVITY: Final = "slack_interactivity"
ROUTE_SLACK_INTERACTIVITY: Final = "slack/interactivity"  # POST from Slack (a button pressed)
FUNCTION_BOARD: Final = "wave_board"
ROUTE_BOARD: Final = "waves/{tracking_id}"  # GET: the board page (shared/board.py)

# --- Settings (environment variables / app settings) ----------------------------------
# Inbound authentication
SETTING_SECURE_WEBHOOK_TENANT_ID: Final = "FOREWARN_SECURE_WEBHOOK_TENANT_ID"
SETTING_SECURE_WEBHOOK_AUDIENCE: Final = "FOREWARN_SECURE_WEBHOOK_AUDIENCE"
SETTING_SECURE_WEBHOOK_JWKS_URL: Final = "FOREWARN_SECURE_WEBHOOK_JWKS_URL"
SETTING_SECURE_WEBHOOK_ISSUERS: Final = "FOREWARN_SECURE_WEBHOOK_ISSUERS"
SETTING_ALLOWED_SUBSCRIPTIONS: Final = "FOREWARN_ALLOWED_SUBSCRIPTIONS"
# The key that opens POST /api/alerts only (the Action Group's URI carries it as ?code=);
# the previous one is still accepted while a rotation reaches every Action Group.
SETTING_ALERTS_KEY: Final = "FOREWARN_ALERTS_KEY"
SETTING_ALERTS_KEY_PREVIOUS: Final = "FOREWARN_ALERTS_KEY_PREVIOUS"
# The forwarders' signing key: opens POST /api/scheduled-events only. No "previous" key: a
# forwarder whose key is refused keeps its posts and retries until its key is updated too.
SETTING_SCHEDULED_EVENTS_KEY: Final = "FOREWARN_SCHEDULED_EVENTS_KEY"
# Signs action links (shared/wave/actions.py); links are offered only with FOREWARN_PUBLIC_URL.
SETTING_ACTION_LINK_KEY: Final = "FOREWARN_ACTION_LINK_KEY"
SETTING_PUBLIC_URL: Final = "FOREWARN_PUBLIC_URL"  # e.g. https://APP.azurewebsites.net
# Slack's signing secret: checks POST /api/slack/interactivity (shared/wave/slack_buttons.py).
SETTING_SLACK_SIGNING_SECRET: Final = "FOREWARN_SLACK_SIGNING_SECRET"  # noqa: S105 (a name)
# Opens GET /api/waves/{tracking_id} (the board page) and nothing else.
SETTING_BOARD_READ_KEY: Final = "FOREWARN_BOARD_READ_KEY"
# Start maintenance from the message (shared/start/): off unless set; who pressed a link is
# read from App Service authentication's headers only when this says it is in front.
SETTING_ENABLE_START_FROM_MESSAGE: Final = "FOREWARN_ENABLE_START_FROM_MESSAGE"
SETTING_ACTIONS_SIGN_IN: Final = "FOREWARN_ACTIONS_SIGN_IN"  # "easyauth", or empty: nobody
# Enrichment
SETTING_ARM_ENDPOINT: Final = "FOREWARN_ARM_ENDPOINT"
SETTING_ARM_TOKEN: Final = "FOREWARN_ARM_TOKEN"  # noqa: S105 (a setting name)
SETTING_PLAN_LEAD_MINUTES: Final = "FOREWARN_PLAN_LEAD_MINUTES"  # plan steps start no sooner
SETTING_AZURE_CLIENT_ID: Final = "AZURE_CLIENT_ID"  # user-assigned managed identity
# Log Analytics (catch-up, quietest hour); everything there is off without a workspace
SETTING_LOG_ANALYTICS_WORKSPACE_ID: Final = "FOREWARN_LOG_ANALYTICS_WORKSPACE_ID"
SETTING_LOG_ANALYTICS_ENDPOINT: Final = "FOREWARN_LOG_ANALYTICS_ENDPOINT"
# Routing and delivery
SETTING_CONFIG: Final = "FOREWARN_CONFIG"
# Following a wave (shared/wave): timer schedules (NCRONTAB), extra watched subscriptions,
# reminder offsets before the self-service window closes and the scheduled window opens.
SETTING_SWEEP_SCHEDULE: Final = "FOREWARN_SWEEP_SCHEDULE"
SETTING_SWEEP_SUBSCRIPTIONS: Final = "FOREWARN_SWEEP_SUBSCRIPTIONS"
SETTING_REMINDER_SCHEDULE: Final = "FOREWARN_REMINDER_SCHEDULE"
SETTING_REMINDER_OFFSETS: Final = "FOREWARN_REMINDER_OFFSETS"
# The timers' defaults live here, not in shared/wave/runner.py: the timer functions read them
# when the app is indexed, and importing the runner there would add to every cold start.
DEFAULT_SWEEP_SCHEDULE: Final = "0 0 */6 * * *"  # NCRONTAB: every 6 hours
DEFAULT_REMINDER_SCHEDULE: Final = "0 30 * * * *"  # hourly: a reminder is at most an hour late
# Resource Graph first for the sweep and workspace-less catch-up (on unless "off").
SETTING_RESOURCE_GRAPH: Final = "FOREWARN_RESOURCE_GRAPH"
# Seconds the route stage gathers a wave's notices (one per subscription) before the first
# send, so that a receiver gets one message listing all of its VMs; 0 turns it off.
SETTING_GROUP_WAIT_SECONDS: Final = "FOREWARN_GROUP_WAIT_SECONDS"
# Retention (shared/retention.py): days rows live, operational tables and the audit trail.
SETTING_RETENTION_DAYS: Final = "FOREWARN_RETENTION_DAYS"
SETTING_AUDIT_RETENTION_DAYS: Final = "FOREWARN_AUDIT_RETENTION_DAYS"
# Telemetry
SETTING_APPINSIGHTS: Final = "APPLICATIONINSIGHTS_CONNECTION_STRING"
SETTING_APPINSIGHTS_AUTH: Final = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"  # Entra ingestion
