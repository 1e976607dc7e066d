"""The VM's Instance Metadata Service: Scheduled Events, the VM's identity, approvals."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from forwarder import ImdsError

EVENTS_PATH = "/metadata/scheduledevents?api-version=2020-07-01"
COMPUTE_PATH = "/metadata/instance/compute?api-version=2021-02-01"
# The fields forwarded for each event, as IMDS names them (api-version 2020-07-01).
EVENT_FIELDS = (
    "EventId",
    "EventType",
    "ResourceType",
    "Resources",
    "EventStatus",
    "NotBefore",
    "Description",
    "EventSource",
    "DurationInSeconds",
)
_TIMEOUT = 5.0


@dataclass(frozen=True)
class Document:
    incarnation: int
    events: dict[str, dict[str, Any]]  # by EventId, only EVENT_FIELDS kept


class Imds:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def _request(self, path: str, body: bytes | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 (the address is IMDS or a loopback stand-in)
            self.base_url + path,
            data=body,
            method="POST" if body is not None else "GET",
            # IMDS refuses a request without this header, and one with X-Forwarded-For.
            headers={"Metadata": "true", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:  # noqa: S310
                raw = response.read()
        except (urllib.error.URLError, OSError) as error:
            raise ImdsError(f"IMDS at {self.base_url} did not answer: {error}") from error
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as error:
            raise ImdsError(f"IMDS answered something that is not JSON: {error}") from error

    def events(self) -> Document:
        document = self._request(EVENTS_PATH)
        if not isinstance(document, dict) or not isinstance(document.get("Events"), list):
            raise ImdsError("IMDS answered a Scheduled Events document without an Events list")
        events: dict[str, dict[str, Any]] = {}
        for event in document["Events"]:
            if isinstance(event, dict) and isinstance(event.get("EventId"), str):
                events[event["EventId"]] = {name: event.get(name) for name in EVENT_FIELDS}
        incarnation = document.get("DocumentIncarnation")
        return Document(incarnation if isinstance(incarnation, int) else -1, events)

    def compute(self) -> dict[str, str]:
        """The VM's name and resource id, so the app can find its maintenance record, and its
        region, so a message about a VM in no wave still says where it is."""
        document = self._request(COMPUTE_PATH)
        if not isinstance(document, dict):
            raise ImdsError("IMDS answered the instance metadata with something not an object")
        return {
            key: str(document.get(key, ""))
            for key in (
                "name",
                "resourceId",
                "vmId",
                "subscriptionId",
                "resourceGroupName",
                "location",
            )
        }

    def approve(self, event_id: str) -> None:
        body = json.dumps({"StartRequests": [{"EventId": event_id}]}).encode("utf-8")
        self._request(EVENTS_PATH, body)
