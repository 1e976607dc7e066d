"""What can be wrong with an inbound alert.

AlertRejectedError
├── InvalidAlertError      not JSON, or not the shape Azure sends (HTTP 400, CLI exit 2)
└── NotForForewarnError    a valid alert that forewarn does not act on (HTTP 200, exit 1)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a payload: where (JSON pointer) and what."""

    pointer: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


class AlertRejectedError(Exception):
    """Base class: the payload will not become a MaintenanceEvent."""


class InvalidAlertError(AlertRejectedError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = "; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems[:5])
        super().__init__(f"invalid alert: {summary}")


class NotForForewarnError(AlertRejectedError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
