"""Failures of enrichment, one class each.

    EnrichError
    ├── ArmError                      a call to Azure Resource Manager failed
    │   ├── ArmAuthenticationError    no token, or ARM rejected it (401): stops everything
    │   ├── ArmForbiddenError         no permission on that scope (403): a note, the rest goes on
    │   ├── ArmNotFoundError          the resource is gone (404): a note, the rest goes on
    │   ├── ArmThrottledError         still 429 after the allowed tries (transient)
    │   ├── ArmUnavailableError       network error, timeout or 5xx after retries (transient)
    │   ├── ArmRequestError           any other 4xx, or a response we cannot read
    │   └── ArmOperationError         a long-running operation failed, was canceled or timed out
    │       └── ArmOperationTimeoutError  it was still running when the caller stopped waiting
    ├── MalformedResourceIdError      not a well-formed VM id (``resource_id.parse_vm_id``)
    └── UnexpectedMessageError        a queue message that is not an "event" envelope

Transient means "the same request later will probably work": the queue trigger raises so that
the platform retries the message, and the instance-view cache makes the retry cheap.
"""

from __future__ import annotations


class EnrichError(Exception):
    """Base class of enrichment failures."""


class ArmError(EnrichError):
    """A call to Azure Resource Manager failed."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class ArmAuthenticationError(ArmError):
    """No usable credential, or ARM answered 401."""


class ArmForbiddenError(ArmError):
    """ARM answered 403: the identity may not read or act on that scope."""


class ArmNotFoundError(ArmError):
    """ARM answered 404: the resource (or the event) does not exist."""


class ArmThrottledError(ArmError):
    """Still throttled (429) after the allowed tries, or asked to wait longer than we may."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, status=429, code="TooManyRequests")
        self.retry_after = retry_after


class ArmUnavailableError(ArmError):
    """Network failure, timeout or a 5xx answer that retries did not cure."""


class ArmRequestError(ArmError):
    """ARM refused the request (another 4xx) or answered something we cannot read."""


class ArmOperationError(ArmError):
    """A long-running operation ended Failed or Canceled, or did not end in time."""


class ArmOperationTimeoutError(ArmOperationError):
    """The operation was still running when the wait ran out (it may yet succeed)."""


class MalformedResourceIdError(EnrichError):
    """Text that was to name a VM is not a well-formed ARM VM id: nothing is read for it."""


class UnexpectedMessageError(EnrichError):
    """The events queue held something other than an event envelope (left to poison)."""


TRANSIENT_ERRORS: tuple[type[Exception], ...] = (ArmThrottledError, ArmUnavailableError)
