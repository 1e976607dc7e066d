"""Which Resource Health events forewarn acts on: the platform took a VM down.

A Resource Health alert rule fires on every health transition of a VM, a user's reboot or
deallocation and the return to ``Available`` included (the samples carry ``cause``
``UserInitiated`` and ``PlatformInitiated``, ``currentHealthStatus`` ``Unavailable``, and
``previousHealthStatus``). Only a platform-initiated loss of health is about maintenance; the
rest is answered "not for forewarn" with the reason, so that the Action Group stops there.
"""

from __future__ import annotations

from typing import Any, Final

from shared.parsing.errors import NotForForewarnError

PLATFORM_INITIATED: Final = "platforminitiated"
UNHEALTHY: Final = frozenset({"unavailable", "degraded"})


def require_platform_outage(properties: Any) -> None:
    """Raise ``NotForForewarnError`` unless the platform made the resource unhealthy."""
    fields = properties if isinstance(properties, dict) else {}
    cause = fields.get("cause")
    current = fields.get("currentHealthStatus")
    if not isinstance(cause, str) or cause.strip().lower() != PLATFORM_INITIATED:
        shown = repr(cause[:40]) if isinstance(cause, str) else "missing"
        raise NotForForewarnError(
            f"Resource Health event with cause {shown} (properties.cause): forewarn acts only "
            "on PlatformInitiated events"
        )
    if not isinstance(current, str) or current.strip().lower() not in UNHEALTHY:
        shown = repr(current[:40]) if isinstance(current, str) else "missing"
        raise NotForForewarnError(
            f"Resource Health event with currentHealthStatus {shown}: forewarn acts only when a "
            "resource becomes Unavailable or Degraded"
        )
