"""Turn what Action Groups send into one ``MaintenanceEvent``.

Two envelopes (common alert schema, legacy activity-log schema) times three event kinds
(Service Health, Resource Health, Administrative) arrive here. ``parse_alert`` validates the
envelope, decides whether forewarn acts on it, validates what that kind relies on, and
normalises. It is a pure function of the payload and the receive time.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.models import EventKind, ImpactedService, MaintenanceEvent, SchemaName
from shared.parsing import fields, identifiers
from shared.parsing.decode import loads
from shared.parsing.errors import (
    ROOT,
    AlertRejectedError,
    InvalidAlertError,
    NotForForewarnError,
    Problem,
)
from shared.parsing.html_text import html_to_text
from shared.parsing.resource_health import require_platform_outage
from shared.parsing.validate import pointer, problems
from shared.timeutil import format_utc

log = logging.getLogger("forewarn.parsing")

COMMON_SCHEMA_ID = "azureMonitorCommonAlertSchema"
LEGACY_SCHEMA_ID = "Microsoft.Insights/activityLogs"

_VM_TYPES = ("microsoft.compute/virtualmachines", "microsoft.compute/virtualmachinescalesets")
# Test actions use placeholders such as 11111111-1111-1111-1111-111111111111.
_PLACEHOLDER_SUBSCRIPTION = re.compile(r"^([0-9a-f])\1{7}-(?:\1{4}-){3}\1{12}$", re.I)


@dataclass(frozen=True)
class _Source:
    """Where the activity-log event sits in the envelope, and what came with it."""

    schema: SchemaName
    event: dict[str, Any]  # alertContext (common) or activityLog (legacy)
    base: str  # JSON pointer of ``event``
    monitoring_service: str
    target_ids: list[Any]  # strings, as the envelope schema checks
    alert_rule: str | None
    signal_type: str = "Activity Log"  # legacy payloads are activity log events by definition


def parse_alert(payload: Any, received_at: datetime) -> MaintenanceEvent:
    """Validate and normalise one alert payload.

    Raises ``InvalidAlertError`` with every problem found, or ``NotForForewarnError`` with the
    reason for a valid alert that forewarn does not act on. Whatever else goes wrong reading
    a payload is an ``InvalidAlertError`` too (at the root, the class named): no payload can
    make ingest answer a 5xx, and the error is logged to be fixed with a precise pointer.
    """
    try:
        source = _locate(payload)
        found: list[Problem] = []
        ids = identifiers.check(source.event, source.base, source.target_ids, found)
        _raise_if(found)
        kind = _classify(source, ids)
        event = _normalise(source, kind, ids, received_at)
        _require_encodable(event)
        return event
    except AlertRejectedError:
        raise
    except Exception as error:  # the net under every parser bug: a 400, logged to be fixed
        log.warning("payload could not be read (%s)", type(error).__name__, exc_info=error)
        raise InvalidAlertError(
            [Problem(ROOT, f"could not be read ({type(error).__name__})")]
        ) from error


def _require_encodable(event: MaintenanceEvent) -> None:
    """What is queued must be JSON that the next stage reads back (no NaN, no surrogates)."""
    try:
        json.dumps(event.to_json(), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError) as error:
        raise InvalidAlertError(
            [Problem(ROOT, "holds text that cannot be passed on as JSON (a lone surrogate)")]
        ) from error


def _locate(payload: Any) -> _Source:
    if not isinstance(payload, dict):
        raise InvalidAlertError([Problem("", "must be a JSON object")])
    schema_id = payload.get("schemaId")
    if schema_id == COMMON_SCHEMA_ID:
        _raise_if(problems("envelope-common.schema.json", payload))
        essentials = payload["data"]["essentials"]
        context = payload["data"].get("alertContext") or {}
        return _Source(
            schema="common",
            event=context,
            base="/data/alertContext",
            monitoring_service=str(essentials["monitoringService"]),
            target_ids=list(essentials.get("alertTargetIDs") or []),
            alert_rule=essentials.get("alertRule"),
            signal_type=str(essentials["signalType"]),
        )
    if schema_id == LEGACY_SCHEMA_ID:
        _raise_if(problems("envelope-legacy.schema.json", payload))
        activity_log = payload["data"]["context"]["activityLog"]
        return _Source(
            schema="legacy",
            event=activity_log,
            base="/data/context/activityLog",
            monitoring_service=_legacy_service(activity_log),
            target_ids=[],
            alert_rule=None,
        )
    if isinstance(payload.get("data"), dict) and "essentials" in payload["data"]:
        raise InvalidAlertError([Problem("/schemaId", f"must be {COMMON_SCHEMA_ID!r}")])
    raise InvalidAlertError(
        [
            Problem(
                "/schemaId",
                f"must be {COMMON_SCHEMA_ID!r} or {LEGACY_SCHEMA_ID!r}, "
                f"got {json.dumps(schema_id)[:80]}",
            )
        ]
    )


def _legacy_service(activity_log: dict[str, Any]) -> str:
    source = str(activity_log.get("eventSource") or "")
    if source:
        return source
    # The documented legacy Administrative sample carries no eventSource; it is recognisable
    # by the caller/authorization that only administrative operations have.
    if activity_log.get("authorization") or activity_log.get("caller"):
        return "Administrative"
    return ""


def _classify(source: _Source, ids: identifiers.Identifiers) -> EventKind:
    service = source.monitoring_service.replace(" ", "").lower()
    if source.schema == "common":
        signal = source.signal_type.replace(" ", "").lower()
        if signal != "activitylog":
            raise NotForForewarnError(
                f"signalType {source.signal_type!r} is not an activity log alert; forewarn acts "
                "on Service Health, Resource Health and Administrative activity log alerts"
            )
    if service == "servicehealth":
        return "service_health"
    if service == "resourcehealth":
        _require_vm_target(source, ids, "Resource Health")
        require_platform_outage(source.event.get("properties"))
        return "resource_health"
    if service in ("administrative", "activitylog-administrative"):
        _require_vm_target(source, ids, "Administrative")
        return "administrative"
    raise NotForForewarnError(
        f"monitoringService {source.monitoring_service!r} is not Service Health, Resource "
        "Health or Administrative"
    )


def _require_vm_target(source: _Source, found: identifiers.Identifiers, what: str) -> None:
    ids = found.resource_ids
    if not ids:
        operation = str(source.event.get("operationName") or "")
        if what == "Resource Health" or operation.lower().startswith(_VM_TYPES):
            raise InvalidAlertError(
                [Problem(pointer(source.base, "resourceId"), f"{what} alert names no resource")]
            )
        raise NotForForewarnError(
            f"{what} operation {operation or '(none)'!r} is not a virtual machine operation"
        )
    if not any(_is_vm(resource_id) for resource_id in ids):
        raise NotForForewarnError(
            f"{what} alert is about {_resource_type(ids[0])!r}, not a virtual machine"
        )


def _resource_type(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    lowered = [part.lower() for part in parts]
    if "providers" in lowered:
        at = len(lowered) - 1 - lowered[::-1].index("providers")
        return "/".join(parts[at + 1 : at + 3])
    return "unknown"


def _is_vm(resource_id: str) -> bool:
    return _resource_type(resource_id).lower() in _VM_TYPES


def _normalise(
    source: _Source, kind: EventKind, ids: identifiers.Identifiers, received_at: datetime
) -> MaintenanceEvent:
    event = source.event
    properties = event.get("properties") if isinstance(event.get("properties"), dict) else {}
    assert isinstance(properties, dict)
    errors: list[Problem] = []
    if source.schema == "common":
        # The legacy envelope schema already covers its activity log event; the common one
        # leaves alertContext open because metric and log alerts fill it differently.
        _raise_if(problems("activity-log-event.schema.json", event, source.base))
    resource_ids = ids.resource_ids if kind != "service_health" else []
    subscription_ids = (
        ids.subscription_ids if kind == "service_health" else ids.all_subscription_ids()
    )

    impacted: list[ImpactedService] = []
    tracking_id = incident_type = stage = maintenance_id = communication_id = None
    if kind == "service_health":
        errors.extend(
            problems(
                "service-health-properties.schema.json",
                properties,
                pointer(source.base, "properties"),
            )
        )
        _raise_if(errors)
        tracking_id = properties["trackingId"]
        incident_type = properties["incidentType"]
        stage = properties.get("stage")
        maintenance_id = properties.get("maintenanceId")
        communication_id = properties.get("communicationId")
        impacted = _impacted_services(properties, pointer(source.base, "properties"), errors)
        title = str(properties.get("title") or "")
        summary = html_to_text(
            str(properties.get("communication") or properties.get("defaultLanguageContent") or "")
        )
    elif kind == "resource_health":
        title = str(properties.get("title") or "Resource health changed")
        summary = html_to_text(str(properties.get("details") or title))
    else:
        operation = str(event.get("operationName") or "")
        title = f"{operation} {event.get('status') or ''}".strip() or "Administrative operation"
        description = event.get("Activity Log Event Description") or event.get("description")
        summary = html_to_text(str(description or title))

    if not subscription_ids:
        errors.append(
            Problem(
                "/data/essentials/alertTargetIDs"
                if source.schema == "common"
                else pointer(source.base, "subscriptionId"),
                "names no subscription",
            )
        )

    impact_start = fields.timestamp(properties, "impactStartTime", source.base, errors)
    impact_end = fields.timestamp(properties, "impactMitigationTime", source.base, errors)
    event_time = fields.timestamp(event, "eventTimestamp", source.base, errors, nested=False)
    _raise_if(errors)

    level = fields.level(event.get("level"))
    status = event.get("status") if isinstance(event.get("status"), str) else None
    is_test = fields.is_synthetic(properties) or all(
        _PLACEHOLDER_SUBSCRIPTION.match(sub) for sub in subscription_ids
    )
    operation_name = (
        event.get("operationName") if isinstance(event.get("operationName"), str) else None
    )
    event_id = fields.event_id(
        kind=kind,
        subscription_ids=subscription_ids,
        tracking_id=tracking_id,
        communication_id=communication_id,
        stage=stage,
        event_data_id=event.get("eventDataId"),
        operation_name=operation_name,
        status=status,
        event_time=event_time,
        resource_ids=resource_ids,
    )
    return MaintenanceEvent(
        event_id=event_id,
        kind=kind,
        schema=source.schema,
        subscription_ids=subscription_ids,
        tracking_id=tracking_id,
        incident_type=incident_type,
        stage=stage,
        status=status,
        level=level,
        title=title,
        summary=summary,
        impacted=impacted,
        impact_start=impact_start,
        impact_end=impact_end,
        resource_ids=resource_ids,
        operation_name=operation_name,
        maintenance_id=maintenance_id,
        communication_id=communication_id,
        is_test=is_test,
        received_at=format_utc(received_at),
        alert_rule=source.alert_rule,
        event_time=event_time,
        caller=_caller(event) if kind == "administrative" else None,
    )


def _caller(event: dict[str, Any]) -> str | None:
    caller = event.get("caller")
    return caller.strip()[:256] or None if isinstance(caller, str) else None


def _impacted_services(
    properties: dict[str, Any], base: str, errors: list[Problem]
) -> list[ImpactedService]:
    raw = properties.get("impactedServices")
    where = pointer(base, "impactedServices")
    if raw is None or raw == "":
        service = properties.get("service")
        region = properties.get("region")
        if isinstance(service, str) and service:
            return [
                ImpactedService(service, [region] if isinstance(region, str) and region else [])
            ]
        return []
    if isinstance(raw, str):
        # A JSON document inside a string: decoded as strictly as the body (huge integers,
        # deep nesting, lone surrogates), and then it must be the array the schema describes.
        try:
            raw = loads(raw)
        except InvalidAlertError as error:
            reason = error.problems[0].message
            errors.append(Problem(where, f"the JSON inside the string {reason}"))
            return []
        if not isinstance(raw, list) or problems(
            "service-health-properties.schema.json",
            {"title": "", "incidentType": "x", "trackingId": "x", "impactedServices": raw},
        ):
            errors.append(Problem(where, "decoded value must be an array of services"))
            return []
    return [
        ImpactedService(
            service=item["ServiceName"],
            regions=[region["RegionName"] for region in item.get("ImpactedRegions") or []],
        )
        for item in raw
    ]


def _raise_if(found: list[Problem]) -> None:
    if found:
        raise InvalidAlertError(found)
