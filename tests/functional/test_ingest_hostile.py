"""Hostile and odd payloads on POST /api/alerts (issue 8, ingest half; issue 11, Resource Health).

GIVEN a real sample with one field changed WHEN ingested in-process with an in-memory queue
THEN this status, and a 400 names the field by JSON pointer, bounded in size.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from shared import names
from shared.ingest import AlertIngestor, IngestRequest, IngestResponse
from shared.storage import Courier, InMemoryPayloadStore, InMemoryQueuePublisher
from tests.conftest import FIXTURES, load_fixture

JSON = {"Content-Type": "application/json"}
SH = json.loads(
    (FIXTURES / "forewarn" / "common-servicehealth-maintenance-planned.json").read_text()
)
LEGACY_SH = load_fixture("legacy-activitylog-servicehealth-incident.json")
RH = load_fixture("common-resourcehealth-testaction-2021.json")
LEGACY_RH = load_fixture("legacy-activitylog-resourcehealth.json")
OTHER = "99999999-9999-4999-8999-999999999999"
PROPS = ["data", "alertContext", "properties"]
LEGACY_LOG = ["data", "context", "activityLog"]
RAW = "__raw__"  # replaced by raw JSON text that json.dumps cannot write (huge ints, NaN)


def mutated(sample: Any, path: list[str | int], value: Any, raw: bytes | None = None) -> bytes:
    payload = copy.deepcopy(sample)
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = RAW if raw is not None else value
    body = json.dumps(payload).encode()
    return body.replace(b'"' + RAW.encode() + b'"', raw) if raw is not None else body


def ingest(body: bytes) -> tuple[IngestResponse, list[str]]:
    queue = InMemoryQueuePublisher()
    handler = AlertIngestor(Courier(queue, InMemoryPayloadStore()))
    response = handler.handle(IngestRequest(body, JSON))
    return response, list(queue.drain(names.QUEUE_EVENTS))


def compact(sample: Any, path: list[str | int], value: Any) -> bytes:
    """``mutated`` without the spaces: 125,000 one-digit items fit in 256 KiB only so."""
    return json.dumps(json.loads(mutated(sample, path, value)), separators=(",", ":")).encode()


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


WALK = f"../../../../../subscriptions/{OTHER}/providers/Microsoft.ResourceHealth/events/X"
REJECTED = [
    # (id, body, pointer the 400 names)
    ("trackingId walks up the ARM path", mutated(SH, [*PROPS, "trackingId"], WALK), None),
    ("trackingId carries a query", mutated(SH, [*PROPS, "trackingId"], "X?api-version=1"), None),
    ("trackingId carries a fragment", mutated(SH, [*PROPS, "trackingId"], "X#frag"), None),
    ("trackingId is a dot segment", mutated(SH, [*PROPS, "trackingId"], ".."), None),
    ("trackingId percent-escapes", mutated(SH, [*PROPS, "trackingId"], "%2e%2e"), None),
    (
        "subscriptionId is a management group",
        mutated(
            LEGACY_SH,
            [*LEGACY_LOG, "subscriptionId"],
            "/providers/Microsoft.Management/managementGroups/root",
        ),
        "/data/context/activityLog/subscriptionId",
    ),
    (
        "subscriptionId is markup",
        mutated(LEGACY_SH, [*LEGACY_LOG, "subscriptionId"], "<b>x</b>"),
        "/data/context/activityLog/subscriptionId",
    ),
    (
        "subscriptionId is a placeholder that is not a GUID",
        json.dumps(LEGACY_RH).encode(),
        "/data/context/activityLog/subscriptionId",
    ),
    (
        "target subscription walks up",
        mutated(SH, ["data", "essentials", "alertTargetIDs", 0], f"/subscriptions/../{OTHER}"),
        "/data/essentials/alertTargetIDs/0",
    ),
    (
        "target is not a subscription",
        mutated(SH, ["data", "essentials", "alertTargetIDs", 0], "/providers/x/y"),
        "/data/essentials/alertTargetIDs/0",
    ),
    (
        "VM id with a dot segment",
        mutated(
            RH,
            ["data", "essentials", "alertTargetIDs", 0],
            f"/subscriptions/{OTHER}/resourceGroups/rg/providers/Microsoft.Compute"
            "/virtualMachines/../../../../../subscriptions/x",
        ),
        "/data/essentials/alertTargetIDs/0",
    ),
    (
        "VM id in a subscription that is not a GUID",
        mutated(
            RH,
            ["data", "essentials", "alertTargetIDs", 0],
            "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
        ),
        "/data/essentials/alertTargetIDs/0",
    ),
    (
        "integer with thousands of digits",
        mutated(SH, ["data", "alertContext", "level"], None, b"9" * 5000),
        "/",
    ),
    ("NaN is not JSON", mutated(SH, [*PROPS, "stage"], None, b"NaN"), "/"),
    ("1e999 is not a number", mutated(SH, ["data", "alertContext", "level"], None, b"1e999"), "/"),
    (
        "timestamp before year 1 in UTC",
        mutated(SH, ["data", "alertContext", "eventTimestamp"], "0001-01-01T00:00:00+01:00"),
        "/data/alertContext/eventTimestamp",
    ),
    (
        "timestamp after year 9999 in UTC",
        mutated(SH, [*PROPS, "impactStartTime"], "9999-12-31T23:59:59-01:00"),
        "/data/alertContext/properties/impactStartTime",
    ),
    (
        "timestamp before 1900",
        mutated(SH, [*PROPS, "impactMitigationTime"], "1899-12-31T23:59:59+00:00"),
        "/data/alertContext/properties/impactMitigationTime",
    ),
    (
        "deep nesting inside a field",
        mutated(SH, [*PROPS, "somethingNew"], None, deep(900)),
        None,
    ),
    (
        "deep nesting inside impactedServices",
        mutated(SH, [*PROPS, "impactedServices"], None, deep(900)),
        None,
    ),
    (
        "impactedServices decodes to null",
        mutated(SH, [*PROPS, "impactedServices"], "null"),
        "/data/alertContext/properties/impactedServices",
    ),
    (
        "impactedServices decodes to a bare string",
        mutated(SH, [*PROPS, "impactedServices"], '"East US"'),
        "/data/alertContext/properties/impactedServices",
    ),
    (
        "impactedServices nests deeper than the decoder goes",
        mutated(SH, [*PROPS, "impactedServices"], "[" * 100_000),
        "/data/alertContext/properties/impactedServices",
    ),
    (
        "impactedServices carries a huge integer",
        mutated(SH, [*PROPS, "impactedServices"], "[" + "9" * 5000 + "]"),
        "/data/alertContext/properties/impactedServices",
    ),
    (
        "impactedServices carries a lone surrogate",
        mutated(
            SH,
            [*PROPS, "impactedServices"],
            '[{"ServiceName": "Virtual Machines \\ud800", "ImpactedRegions": []}]',
        ),
        "/data/alertContext/properties/impactedServices",
    ),
    ("top-level array", b"[1, 2, 3]", "/"),
    ("not JSON at all", b"{oops", "/"),
    ("alertContext is null", mutated(SH, ["data", "alertContext"], None), "/data/alertContext"),
    (
        "125,000 alert targets",
        compact(SH, ["data", "essentials", "alertTargetIDs"], [1] * 125_000),
        "/data/essentials/alertTargetIDs",
    ),
]

# GIVEN one field changed WHEN ingested THEN the 400's first problem says this, in forewarn's
# words (never Python's: "use sys.set_int_max_str_digits()" means nothing to an operator).
WORDED = [
    (
        "alertContext is null",
        mutated(SH, ["data", "alertContext"], None),
        ("/data/alertContext", "must be object, got null"),
    ),
    (
        "a 4,301-digit integer",
        mutated(SH, ["data", "alertContext", "level"], None, b"9" * 4301),
        ("/", "is not valid JSON: number too long (4301 digits; at most 4300)"),
    ),
    (
        "a 4,301-digit negative integer inside impactedServices",
        mutated(SH, [*PROPS, "impactedServices"], "[-" + "9" * 4301 + "]"),
        (
            "/data/alertContext/properties/impactedServices",
            "the JSON inside the string is not valid JSON: number too long (4301 digits; at most "
            "4300)",
        ),
    ),
    (
        "125,000 alert targets",
        compact(SH, ["data", "essentials", "alertTargetIDs"], [1] * 125_000),
        ("/data/essentials/alertTargetIDs", "has 125000 items; no alert has more than 1000"),
    ),
]


@pytest.mark.parametrize(
    ("body", "first"), [row[1:] for row in WORDED], ids=[row[0] for row in WORDED]
)
def test_a_400_says_what_is_wrong_in_forewarns_words(body: bytes, first: tuple[str, str]) -> None:
    response, queued = ingest(body)
    problem = response.body["problems"][0]
    assert (response.status, problem["pointer"], problem["message"], queued) == (
        400,
        *first,
        [],
    )
    assert "set_int_max_str_digits" not in json.dumps(response.body)


def test_an_oversized_array_is_refused_before_its_items_are_validated() -> None:
    # GIVEN 125,000 alert targets that are not strings (3 s to refuse item by item)
    body = compact(SH, ["data", "essentials", "alertTargetIDs"], [1] * 125_000)
    # WHEN ingested THEN one problem, for the array, and the item-by-item walk never runs
    response, _ = ingest(body)
    assert (response.status, response.body["problem_count"]) == (400, 1)


@pytest.mark.parametrize(
    ("body", "expected_pointer"),
    [row[1:] for row in REJECTED],
    ids=[row[0] for row in REJECTED],
)
def test_hostile_payloads_answer_400_naming_the_field(
    body: bytes, expected_pointer: str | None
) -> None:
    response, queued = ingest(body)
    assert response.status == 400, response.body
    assert queued == []
    pointers = [problem["pointer"] for problem in response.body["problems"]]
    assert all(pointer.startswith("/") for pointer in pointers), pointers
    if expected_pointer is not None:
        assert expected_pointer in pointers
    assert response.body["problem_count"] >= len(pointers)


@pytest.mark.parametrize("field", ["trackingId", "title"])
def test_tracking_id_walk_never_reaches_the_queue(field: str) -> None:
    # GIVEN the walk in trackingId THEN 400 at trackingId; the same text in the title is harmless.
    response, queued = ingest(mutated(SH, [*PROPS, field], WALK))
    if field == "trackingId":
        assert response.status == 400
        assert response.body["problems"][0]["pointer"] == "/data/alertContext/properties/trackingId"
    else:
        assert response.status == 202
        assert len(queued) == 1


def test_a_400_is_bounded_however_many_problems_the_body_has() -> None:
    # GIVEN 1,000 alert targets that are not strings (the most an array may hold) and a
    # 100 KB tracking id
    payload = copy.deepcopy(SH)
    payload["data"]["essentials"]["alertTargetIDs"] = [1] * 1_000
    payload["data"]["alertContext"]["properties"]["trackingId"] = "x/" * 50_000
    body = json.dumps(payload).encode()
    response, _ = ingest(body)
    assert response.status == 400
    problems = response.body["problems"]
    assert len(problems) <= 20
    assert response.body["problem_count"] >= 1_000
    assert all(len(problem["message"]) <= 300 for problem in problems)
    assert all(len(problem["pointer"]) <= 300 for problem in problems)
    assert len(json.dumps(response.body)) < 16 * 1024


def test_huge_keys_are_not_echoed_whole() -> None:
    payload = copy.deepcopy(SH)
    payload["data"]["alertContext"]["properties"]["k" * 100_000] = [[1]]
    payload["data"]["essentials"]["alertTargetIDs"] = {"x" * 100_000: 1}
    response, _ = ingest(json.dumps(payload).encode())
    assert response.status == 400
    assert len(json.dumps(response.body)) < 16 * 1024


def _resource_health(cause: str | None, current: str | None) -> bytes:
    payload = copy.deepcopy(RH)
    properties = payload["data"]["alertContext"]["properties"]
    for key, value in (("cause", cause), ("currentHealthStatus", current)):
        if value is None:
            del properties[key]
        else:
            properties[key] = value
    return json.dumps(payload).encode()


RESOURCE_HEALTH = [
    # (id, cause, currentHealthStatus, status, words the reason has)
    ("sample as sent: a user reboot", "UserInitiated", "Unavailable", 200, "UserInitiated"),
    ("platform, unavailable", "PlatformInitiated", "Unavailable", 202, None),
    ("platform, degraded", "PlatformInitiated", "Degraded", 202, None),
    ("platform, available again", "PlatformInitiated", "Available", 200, "Available"),
    ("platform, unknown", "PlatformInitiated", "Unknown", 200, "Unknown"),
    ("user, degraded", "UserInitiated", "Degraded", 200, "UserInitiated"),
    ("cause lower case", "platforminitiated", "unavailable", 202, None),
    ("no cause", None, "Unavailable", 200, "cause"),
    ("no health status", "PlatformInitiated", None, 200, "currentHealthStatus"),
]


@pytest.mark.parametrize(
    ("cause", "current", "status", "reason_has"),
    [row[1:] for row in RESOURCE_HEALTH],
    ids=[row[0] for row in RESOURCE_HEALTH],
)
def test_resource_health_is_for_forewarn_only_when_the_platform_took_a_vm_down(
    cause: str | None, current: str | None, status: int, reason_has: str | None
) -> None:
    response, queued = ingest(_resource_health(cause, current))
    assert response.status == status, response.body
    assert len(queued) == (1 if status == 202 else 0)
    if reason_has is not None:
        assert response.body["accepted"] is False
        assert reason_has in response.body["reason"]


def test_legacy_resource_health_with_its_placeholders_filled_is_accepted() -> None:
    payload = copy.deepcopy(LEGACY_RH)
    log = payload["data"]["context"]["activityLog"]
    log["subscriptionId"] = OTHER
    log["resourceId"] = (
        f"/subscriptions/{OTHER}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"
    )
    response, queued = ingest(json.dumps(payload).encode())
    assert response.status == 202, response.body
    assert json.loads(queued[0])["body"]["subscription_ids"] == [OTHER]
