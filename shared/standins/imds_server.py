"""A loopback stand-in for a VM's Instance Metadata Service: Scheduled Events and approvals.

It answers ``GET /metadata/scheduledevents`` in the shape of Microsoft's documented example
(``samples/azure/imds-scheduled-events-freeze-sequence.json``, source in its SOURCES.md): a
``DocumentIncarnation`` that goes up by one at every change, and ``Events`` with the nine
fields of api-version 2020-07-01. ``NotBefore`` is RFC 1123 in GMT and blank once started;
an event has no "completed" status, it disappears. Like IMDS it refuses a request without the
``Metadata: true`` header. ``POST`` with ``{"StartRequests": [{"EventId": ...}]}`` is recorded
as an approval and, as on Azure, starts the event.

    with ImdsStandIn(vm_name="sql-01") as imds:
        event_id = imds.schedule("Reboot", minutes=15)
        imds.begin(event_id)   # EventStatus Started, NotBefore ""
        imds.finish(event_id)  # gone: the VM is back
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from shared.standins.samples import azure_sample
from shared.standins.stand_in import Answer, Recorded, StandIn

EVENTS_PATH = "/metadata/scheduledevents"
COMPUTE_PATH = "/metadata/instance/compute"
SAMPLE = "imds-scheduled-events-freeze-sequence.json"
# The descriptions are forewarn's own wording; Microsoft's documented example is the Freeze one.
_DESCRIPTIONS = {
    "Reboot": "Virtual machine is going to be restarted for planned maintenance.",
    "Redeploy": "Virtual machine is going to be moved to another host.",
    "Preempt": "Spot virtual machine is being evicted.",
    "Terminate": "Virtual machine is being deleted from its scale set.",
}
_MISSING_HEADER = {"error": "Bad request. Required metadata header not specified"}


def rfc1123(moment: datetime) -> str:
    """``Mon, 11 Apr 2026 22:26:58 GMT``, as IMDS writes ``NotBefore``."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


class ImdsStandIn(StandIn):
    name = "imds"

    def __init__(
        self,
        *,
        vm_name: str = "sql-01",
        resource_id: str | None = None,
        approval_starts: bool = True,
        location: str = "eastus",
    ) -> None:
        super().__init__()
        self.vm_name = vm_name
        self.resource_id = resource_id or (
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-demo"
            f"/providers/Microsoft.Compute/virtualMachines/{vm_name}"
        )
        self.approval_starts = approval_starts
        self.location = location
        self.incarnation = 1  # Microsoft's example starts at 1 with no events
        self.events: dict[str, dict[str, Any]] = {}
        self.approvals: list[str] = []
        self._state_lock = threading.Lock()

    # -- what a test does ------------------------------------------------------------------

    @staticmethod
    def sample_documents() -> list[dict[str, Any]]:
        """Microsoft's four documents of a Freeze, in order (incarnations 1 to 4)."""
        documents: list[dict[str, Any]] = azure_sample(SAMPLE)
        return documents

    def schedule(
        self,
        event_type: str = "Reboot",
        *,
        minutes: float = 15,
        event_id: str | None = None,
        duration_seconds: int = -1,
        source: str = "Platform",
        now: datetime | None = None,
    ) -> str:
        event_id = event_id or str(uuid.uuid4()).upper()
        not_before = (now or datetime.now(UTC)) + timedelta(minutes=minutes)
        # The documented example's event, with this event's values.
        template = self.sample_documents()[1]["Events"][0]
        template.update(
            EventId=event_id,
            EventStatus="Scheduled",
            EventType=event_type,
            Resources=[self.vm_name],
            NotBefore=rfc1123(not_before),
            Description=_DESCRIPTIONS.get(event_type, template["Description"]),
            EventSource=source,
            DurationInSeconds=duration_seconds,
        )
        with self._state_lock:
            self.events[event_id] = template
            self.incarnation += 1
        return event_id

    def put(self, event: dict[str, Any]) -> None:
        """Show an event exactly as given (a document from Microsoft's example)."""
        with self._state_lock:
            self.events[event["EventId"]] = dict(event)
            self.incarnation += 1

    def change(self, event_id: str, **fields: Any) -> None:
        with self._state_lock:
            self.events[event_id].update(fields)
            self.incarnation += 1

    def begin(self, event_id: str) -> None:
        self.change(event_id, EventStatus="Started", NotBefore="")

    def finish(self, event_id: str) -> None:
        with self._state_lock:
            del self.events[event_id]
            self.incarnation += 1

    def document(self) -> dict[str, Any]:
        with self._state_lock:
            return {
                "DocumentIncarnation": self.incarnation,
                "Events": [dict(event) for event in self.events.values()],
            }

    # -- the protocol ----------------------------------------------------------------------

    def answer(self, request: Recorded) -> Answer:
        if request.headers.get("Metadata", request.headers.get("metadata")) != "true":
            return Answer.json(400, _MISSING_HEADER)
        if request.path == COMPUTE_PATH and request.method == "GET":
            return Answer.json(
                200,
                {
                    "name": self.vm_name,
                    "location": self.location,
                    "resourceId": self.resource_id,
                    "vmId": str(uuid.uuid5(uuid.NAMESPACE_URL, self.resource_id)),
                    "subscriptionId": self.resource_id.split("/")[2],
                    "resourceGroupName": self.resource_id.split("/")[4],
                },
            )
        if request.path != EVENTS_PATH:
            return Answer.json(404, {"error": "Not found"})
        if request.method == "GET":
            return Answer.json(200, self.document())
        try:
            starts = [item["EventId"] for item in request.json()["StartRequests"]]
        except (ValueError, KeyError, TypeError):
            return Answer.json(400, {"error": "Bad request. StartRequests expected"})
        for event_id in starts:
            self.approvals.append(event_id)
            if self.approval_starts and event_id in self.events:
                self.begin(event_id)
        return Answer(200)

    def forget(self) -> None:
        with self._state_lock:
            self.events.clear()
            self.approvals.clear()
            self.incarnation += 1
