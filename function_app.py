"""The Azure Functions app: it only registers the blueprints in ``functions/``.

Read one ``functions/*.py`` to see a trigger and the one ``shared`` call behind it:
ingest (HTTP) -> enrich (queue ``events``) -> route (queue ``enriched``) -> deliver (one queue
per channel).
"""

import azure.functions as func

from functions import (
    actions,
    board,
    catchup,
    deliver,
    enrich,
    ingest,
    reminders,
    route,
    scheduled_events,
    slack,
    sweep,
)
from shared.telemetry import configure_telemetry

# JSON logs always; traces and metrics to Application Insights when its setting is present.
configure_telemetry()

app = func.FunctionApp()

app.register_functions(ingest.bp)
app.register_functions(enrich.bp)
app.register_functions(route.bp)
app.register_functions(deliver.bp)
app.register_functions(catchup.bp)  # timer; off without a Log Analytics workspace
app.register_functions(sweep.bp)  # timer: VMs added, rescheduled, completed, gone mid-wave
app.register_functions(reminders.bp)  # timer: before windows close and open
app.register_functions(scheduled_events.bp)  # POST /api/scheduled-events (forwarder/)
app.register_functions(actions.bp)  # HTTP: signed action links (claim a VM)
app.register_functions(slack.bp)  # HTTP: Slack buttons (claim, snooze), signed by Slack
app.register_functions(board.bp)  # HTTP: GET /api/waves/{tracking_id}, the board page
