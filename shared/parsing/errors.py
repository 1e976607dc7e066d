"""What can be wrong with an inbound alert.

AlertRejectedError
├── InvalidAlertError      not the shape Azure sends (HTTP 400, CLI exit 2)
│   └── InvalidJsonError   not JSON at all, or JSON that forewarn cannot pass on
└── NotForForewarnError    a valid alert that forewarn does not act on (HTTP 200, exit 1)

Problems are reported bounded: a hostile body can hold tens of thousands of problems and
megabyte-long keys, and the answer must not grow with it (``report``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

ROOT: Final = "/"  # how the whole document is named to people (RFC 6901 writes it as "")
MAX_PROBLEMS_SHOWN: Final = 20
MAX_TEXT: Final = 300  # characters of one pointer or message as shown


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a payload: where (JSON pointer, ``/`` for the root) and what."""

    pointer: str
    message: str

    @property
    def shown_pointer(self) -> str:
        return clip(self.pointer or ROOT)

    def to_json(self) -> dict[str, str]:
        return {"pointer": self.shown_pointer, "message": clip(self.message)}

    def __str__(self) -> str:
        return f"{self.shown_pointer}: {clip(self.message)}"


def report(problems: Sequence[Problem], limit: int = MAX_PROBLEMS_SHOWN) -> dict[str, Any]:
    """The first ``limit`` problems, each clipped, and how many there were in all."""
    return {
        "problems": [problem.to_json() for problem in problems[:limit]],
        "problem_count": len(problems),
    }


class AlertRejectedError(Exception):
    """Base class: the payload will not become a MaintenanceEvent."""


class InvalidAlertError(AlertRejectedError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = "; ".join(str(problem) for problem in problems[:5])
        super().__init__(f"invalid alert: {summary}")


class InvalidJsonError(InvalidAlertError):
    """The body is not UTF-8 JSON, or holds what JSON cannot carry on (NaN, lone surrogates)."""


class NotForForewarnError(AlertRejectedError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
