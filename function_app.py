"""The Azure Functions app: it only registers the blueprints in ``functions/``.

Read one ``functions/*.py`` to see a trigger and the one ``shared`` call behind it.
"""

import azure.functions as func

from functions import deliver, ingest

app = func.FunctionApp()

app.register_functions(ingest.bp)
app.register_functions(deliver.bp)
