"""Parsing every real Azure sample: GIVEN a payload WHEN parsed THEN this event (or answer)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.parsing.errors import InvalidAlertError, NotForForewarnError
from shared.parsing.normalise import parse_alert
from tests.conftest import FIXTURES, load_fixture

RECEIVED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def forewarn_fixture(name: str) -> Any:
    return json.loads((FIXTURES / "forewarn" / name).read_text(encoding="utf-8"))


FILLED_SUBSCRIPTION = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"  # a GUID from another sample


def _platform_initiated(payload: Any) -> Any:
    payload["data"]["alertContext"]["properties"]["cause"] = "PlatformInitiated"
    return payload


def _placeholders_filled(payload: Any) -> Any:
    # The documented legacy sample says "<subscription Id>"; Azure sends a GUID there.
    log = payload["data"]["context"]["activityLog"]
    log["subscriptionId"] = FILLED_SUBSCRIPTION
    log["resourceId"] = (
        f"/subscriptions/{FILLED_SUBSCRIPTION}/resourceGroups/rg/providers/"
        "Microsoft.Compute/virtualMachines/vm"
    )
    return payload


# "sample + change": a real sample with one documented difference made (see each function).
VARIANTS = {"platform-initiated": _platform_initiated, "placeholders-filled": _placeholders_filled}


def load(name: str) -> Any:
    name, _, variant = name.partition(" + ")
    if name.startswith("forewarn/"):
        payload = forewarn_fixture(name.removeprefix("forewarn/"))
    else:
        payload = load_fixture(name)
    return VARIANTS[variant](payload) if variant else payload


ACCEPTED = [
    # (sample, kind, schema, subscriptions, stage, incident_type, level, is_test, resource_ids)
    (
        "forewarn/common-servicehealth-maintenance-planned.json",
        "service_health",
        "common",
        ["11111111-1111-1111-1111-111111111111"],
        "Planned",
        "Maintenance",
        "Informational",
        True,
        [],
    ),
    (
        "common-servicehealth-incident-testaction-2021.json",
        "service_health",
        "common",
        ["11111111-1111-1111-1111-111111111111"],
        "Resolved",
        "Incident",
        "Informational",
        True,
        [],
    ),
    (
        "legacy-activitylog-servicehealth-incident.json",
        "service_health",
        "legacy",
        ["cccc2c2c-dd3d-ee4e-ff5f-aaaaaa6a6a6a"],
        "Active",
        "Incident",
        "Informational",
        False,
        [],
    ),
    (
        "common-resourcehealth-testaction-2021.json + platform-initiated",
        "resource_health",
        "common",
        ["11111111-1111-1111-1111-111111111111"],
        None,
        None,
        "Informational",
        True,
        [
            "/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/test-RG/providers/"
            "microsoft.compute/virtualmachines/test-VM"
        ],
    ),
    (
        "legacy-activitylog-resourcehealth.json + placeholders-filled",
        "resource_health",
        "legacy",
        [FILLED_SUBSCRIPTION],
        None,
        None,
        "Informational",
        False,
        [
            f"/subscriptions/{FILLED_SUBSCRIPTION}/resourceGroups/rg/providers/"
            "Microsoft.Compute/virtualMachines/vm"
        ],
    ),
    (
        "common-administrative-testaction-2021.json",
        "administrative",
        "common",
        ["11111111-1111-1111-1111-111111111111"],
        None,
        None,
        "Informational",
        True,
        [
            "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/test-RG/providers/"
            "Microsoft.Compute/virtualMachines/test-VM"
        ],
    ),
]


@pytest.mark.parametrize(
    (
        "sample",
        "kind",
        "schema",
        "subscriptions",
        "stage",
        "incident_type",
        "level",
        "is_test",
        "resource_ids",
    ),
    ACCEPTED,
    ids=[row[0] for row in ACCEPTED],
)
def test_real_samples_are_normalised(
    sample: str,
    kind: str,
    schema: str,
    subscriptions: list[str],
    stage: str | None,
    incident_type: str | None,
    level: str,
    is_test: bool,
    resource_ids: list[str],
) -> None:
    event = parse_alert(load(sample), RECEIVED)
    assert (event.kind, event.schema, event.subscription_ids) == (kind, schema, subscriptions)
    assert (event.stage, event.incident_type, event.level) == (stage, incident_type, level)
    assert event.is_test is is_test
    assert event.resource_ids == resource_ids
    assert event.received_at == "2026-11-29T12:00:00Z"
    assert len(event.event_id) == 32


def test_maintenance_sample_carries_every_field_tools_read() -> None:
    event = parse_alert(load("forewarn/common-servicehealth-maintenance-planned.json"), RECEIVED)
    data = event.to_json()
    for name in (
        "event_id",
        "kind",
        "schema",
        "subscription_ids",
        "tracking_id",
        "incident_type",
        "stage",
        "status",
        "level",
        "title",
        "summary",
        "impacted",
        "impact_start",
        "impact_end",
        "resource_ids",
        "operation_name",
        "maintenance_id",
        "communication_id",
        "is_test",
        "received_at",
    ):
        assert name in data
    assert data["impacted"] == [{"service": "Azure Synapse Analytics", "regions": ["East US"]}]
    assert data["impact_start"] == "2019-06-26T04:00:00Z"
    assert data["impact_end"] == "2019-06-26T12:00:00Z"
    assert data["operation_name"] == "Microsoft.ServiceHealth/maintenance/action"
    assert data["maintenance_id"] == "<GUID>"
    assert data["status"] == "Active"


def test_summary_is_plain_text_without_markup() -> None:
    event = parse_alert(load("common-servicehealth-incident-testaction-2021.json"), RECEIVED)
    assert "<" not in event.summary and "&nbsp;" not in event.summary
    assert event.summary.startswith("Summary of impact: This is the impact summary.")


NOT_FOR_US = [
    ("legacy-activitylog-administrative.json", "Microsoft.Insights/actionGroups"),
    ("legacy-activitylog-common-fields.json", "Microsoft.Insights/actionGroups/write"),
    ("common-resourcehealth-testaction-2021.json", "'UserInitiated'"),  # a user's reboot
]


@pytest.mark.parametrize(("sample", "named"), NOT_FOR_US, ids=[r[0] for r in NOT_FOR_US])
def test_valid_alerts_about_other_things_are_declined_with_a_reason(
    sample: str, named: str
) -> None:
    with pytest.raises(NotForForewarnError) as caught:
        parse_alert(load(sample), RECEIVED)
    assert named in caught.value.reason


def _metric_alert() -> dict[str, Any]:
    payload = copy.deepcopy(load("common-servicehealth-incident-testaction-2021.json"))
    payload["data"]["essentials"]["signalType"] = "Metric"
    payload["data"]["essentials"]["monitoringService"] = "Platform"
    return payload


def test_metric_alert_is_not_for_forewarn() -> None:
    with pytest.raises(NotForForewarnError, match="signalType 'Metric'"):
        parse_alert(_metric_alert(), RECEIVED)


def _mutate(sample: str, path: list[str | int], value: Any) -> Any:
    payload = copy.deepcopy(load(sample))
    target = payload
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


SH = "forewarn/common-servicehealth-maintenance-planned.json"
LEGACY_SH = "legacy-activitylog-servicehealth-incident.json"
PROPS = ["data", "alertContext", "properties"]
INVALID = [
    # (id, sample, change path, new value, pointer expected)
    ("schemaId unknown", SH, ["schemaId"], "somethingElse", "/schemaId"),
    ("essentials missing", SH, ["data", "essentials"], KeyError, "/data"),
    ("trackingId missing", SH, [*PROPS, "trackingId"], KeyError, "/data/alertContext/properties"),
    (
        "trackingId not a string",
        SH,
        [*PROPS, "trackingId"],
        42,
        "/data/alertContext/properties/trackingId",
    ),
    (
        "impactedServices broken string",
        SH,
        [*PROPS, "impactedServices"],
        "[{oops",
        "/data/alertContext/properties/impactedServices",
    ),
    (
        "impactStartTime not a time",
        SH,
        [*PROPS, "impactStartTime"],
        "next tuesday",
        "/data/alertContext/properties/impactStartTime",
    ),
    ("level a list", SH, ["data", "alertContext", "level"], [3], None),
    (
        "legacy activityLog missing",
        LEGACY_SH,
        ["data", "context", "activityLog"],
        KeyError,
        "/data/context",
    ),
    (
        "legacy subscription a placeholder, as documented",
        "legacy-activitylog-resourcehealth.json",
        ["schemaId"],
        "Microsoft.Insights/activityLogs",
        "/data/context/activityLog/subscriptionId",
    ),
    (
        "legacy subscription missing",
        LEGACY_SH,
        ["data", "context", "activityLog", "subscriptionId"],
        KeyError,
        "/data/context/activityLog/subscriptionId",
    ),
]


@pytest.mark.parametrize(
    ("sample", "path", "value", "expected_pointer"),
    [row[1:] for row in INVALID],
    ids=[row[0] for row in INVALID],
)
def test_invalid_payloads_name_the_field(
    sample: str, path: list[str | int], value: Any, expected_pointer: str | None
) -> None:
    with pytest.raises(InvalidAlertError) as caught:
        parse_alert(_mutate(sample, path, value), RECEIVED)
    pointers = [problem.pointer for problem in caught.value.problems]
    assert caught.value.problems, "an invalid payload must report at least one problem"
    if expected_pointer is not None:
        assert expected_pointer in pointers
    assert all(problem.message for problem in caught.value.problems)


TOLERATED = [
    # (id, change path, new value)
    (
        "impactedServices as an array",
        [*PROPS, "impactedServices"],
        [
            {
                "ServiceName": "Azure Synapse Analytics",
                "ImpactedRegions": [{"RegionName": "East US"}],
            }
        ],
    ),
    ("eventSource/channels/level as strings", ["data", "alertContext", "level"], "Informational"),
    ("isSynthetic lower case", [*PROPS, "isSynthetic"], "True"),
    ("timestamps with an offset", [*PROPS, "impactStartTime"], "2019-06-25T21:00:00-07:00"),
    ("unknown extra fields", [*PROPS, "somethingNew"], {"nested": [1, 2]}),
]


@pytest.mark.parametrize(
    ("path", "value"), [r[1:] for r in TOLERATED], ids=[r[0] for r in TOLERATED]
)
def test_what_real_samples_vary_in_is_tolerated(path: list[str | int], value: Any) -> None:
    event = parse_alert(_mutate(SH, path, value), RECEIVED)
    assert event.impacted[0].service == "Azure Synapse Analytics"
    assert event.impact_start == "2019-06-26T04:00:00Z"
    assert event.level == "Informational"


def test_escaped_and_parsed_impacted_services_samples_agree() -> None:
    escaped = load_fixture("servicehealth-impactedservices-escaped.json")
    parsed = load_fixture("servicehealth-impactedservices-parsed.json")
    (escaped_text,) = escaped.values()  # keyed by where it sits in the payload
    as_string = parse_alert(_mutate(SH, [*PROPS, "impactedServices"], escaped_text), RECEIVED)
    as_array = parse_alert(_mutate(SH, [*PROPS, "impactedServices"], parsed), RECEIVED)
    assert as_string.impacted == as_array.impacted
    assert len(as_array.impacted) == 2


def test_same_alert_twice_has_the_same_event_id_and_a_new_stage_a_new_one() -> None:
    first = parse_alert(load(SH), RECEIVED)
    again = parse_alert(load(SH), datetime(2026, 11, 30, tzinfo=UTC))
    rescheduled = parse_alert(_mutate(SH, [*PROPS, "stage"], "Rescheduled"), RECEIVED)
    assert first.event_id == again.event_id
    assert rescheduled.event_id != first.event_id


LOUD_OPERATION = "MICROSOFT.RESOURCEHEALTH/HEALTHEVENT/ACTIVATED/ACTION"


@pytest.mark.parametrize(
    ("sample", "context"),
    [
        (
            "legacy-activitylog-resourcehealth.json + placeholders-filled",
            ["data", "context", "activityLog"],
        ),
        (
            "common-resourcehealth-testaction-2021.json + platform-initiated",
            ["data", "alertContext"],
        ),
    ],
)
def test_resource_health_ids_do_not_depend_on_the_letter_case_of_names(
    sample: str, context: list[str | int]
) -> None:
    # GIVEN the same event as the webhook writes it and as AzureActivity stores it (operation
    # names upper-cased), WHEN parsed, THEN one event id: the catch-up must see it as received.
    loud = _mutate(sample, [*context, "operationName"], LOUD_OPERATION)
    target = loud
    for key in context:
        target = target[key]
    target["status"] = "ACTIVE"
    assert parse_alert(loud, RECEIVED).event_id == parse_alert(load(sample), RECEIVED).event_id


def test_each_subscription_gets_its_own_event_id() -> None:
    other = _mutate(
        SH,
        ["data", "essentials", "alertTargetIDs"],
        ["/subscriptions/22222222-3333-4444-5555-666666666666"],
    )
    assert parse_alert(other, RECEIVED).event_id != parse_alert(load(SH), RECEIVED).event_id
    assert parse_alert(other, RECEIVED).is_test is False


SMUGGLED = (
    "x/subscriptions/99999999-9999-4999-8999-999999999999/resourceGroups/rg"
    "/providers/Microsoft.Compute/virtualMachines/vm"
)
SMUGGLING = [
    # (id, sample, where the id is put, pointer reported)
    (
        "entity of an administrative alert",
        "common-administrative-testaction-2021.json",
        ["data", "alertContext", "properties", "entity"],
        "/data/alertContext/properties/entity",
    ),
    (
        "scope of an administrative alert",
        "common-administrative-testaction-2021.json",
        ["data", "alertContext", "authorization", "scope"],
        "/data/alertContext/authorization/scope",
    ),
    (
        "target of a resource health alert",
        "common-resourcehealth-testaction-2021.json + platform-initiated",
        ["data", "essentials", "alertTargetIDs", 0],
        "/data/essentials/alertTargetIDs/0",
    ),
    (
        "resourceId of a legacy resource health alert",
        "legacy-activitylog-resourcehealth.json + placeholders-filled",
        ["data", "context", "activityLog", "resourceId"],
        "/data/context/activityLog/resourceId",
    ),
]


# Anchored and made of plain segments, so an ARM id, but the VM it spells sits under another
# resource of another subscription: enrichment could only call it malformed (found by the fuzz).
NESTED_VM = (
    "/subscriptions/bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f/resourceGroups/CONTOSO-TEST/providers"
    "/Microsoft.Insights/actionGroups/IncidentActions/subscriptions/"
    "99999999-9999-4999-8999-999999999999/resourceGroups/rg/providers/Microsoft.Compute"
    "/virtualMachines/vm"
)


@pytest.mark.parametrize("smuggled", [SMUGGLED, NESTED_VM], ids=["unanchored", "nested VM"])
@pytest.mark.parametrize(
    ("sample", "path", "expected_pointer"),
    [row[1:] for row in SMUGGLING],
    ids=[row[0] for row in SMUGGLING],
)
def test_a_resource_id_that_is_not_an_arm_id_is_rejected(
    sample: str, path: list[str | int], expected_pointer: str, smuggled: str
) -> None:
    # GIVEN an id that names another subscription somewhere other than at its start, or a VM
    # somewhere other than in the VM's own place
    # WHEN parsed THEN the payload is invalid at that field: enrichment never sees the id, and
    # the subscription allow-list cannot be walked around.
    with pytest.raises(InvalidAlertError) as caught:
        parse_alert(_mutate(sample, path, smuggled), RECEIVED)
    assert expected_pointer in [problem.pointer for problem in caught.value.problems]
