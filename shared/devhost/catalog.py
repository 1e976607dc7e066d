"""The functions an app declares, read once per app object.

``FunctionApp.get_functions()`` may be called only once per app (a second call reports
duplicate names), so every consumer — the dev host, tests, tools — goes through here.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_by_app: dict[int, tuple[Any, dict[str, Any]]] = {}


def functions_of(app: Any) -> dict[str, Any]:
    """Function name -> ``azure.functions`` Function object (trigger, bindings, user code)."""
    with _lock:
        cached = _by_app.get(id(app))
        if cached is None or cached[0] is not app:
            functions = {fn.get_function_name(): fn for fn in app.get_functions()}
            cached = (app, functions)
            _by_app[id(app)] = cached
        return cached[1]


def user_function(app: Any, name: str) -> Any:
    return functions_of(app)[name].get_user_function()
