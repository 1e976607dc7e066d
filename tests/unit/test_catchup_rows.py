"""An ``AzureActivity`` row becomes the same event the webhook path makes, marked recovered.

GIVEN a real Microsoft sample alert, and the AzureActivity row its event becomes in a workspace
WHEN  the catch-up maps the row
THEN  the event id is the one ingest gives the webhook payload, so idempotency recognises it;
      the event says it was recovered; what is not for forewarn stays ignored.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from shared.loganalytics.activity import event_from_row
from shared.parsing.errors import NotForForewarnError
from shared.parsing.normalise import parse_alert
from shared.standins.activity_rows import row_from_event, service_health_row
from tests.conftest import FIXTURES, load_fixture

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SUBSCRIPTION = "3b4a0ea1-8d8b-4a51-a5f8-1f5ab6a0c9d1"


def forewarn_fixture(name: str) -> dict:
    return json.loads((FIXTURES / "forewarn" / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "sample",
    [
        "common-servicehealth-maintenance-planned.json",
        "common-servicehealth-maintenance-planned-vms.json",
    ],
)
def test_service_health_row_has_the_webhook_event_id(sample: str) -> None:
    alert = forewarn_fixture(sample)
    received = parse_alert(alert, NOW)

    recovered = event_from_row(service_health_row(alert), NOW)

    assert recovered.event_id == received.event_id
    assert recovered.recovered is True and received.recovered is False
    assert (recovered.kind, recovered.stage, recovered.tracking_id) == (
        received.kind,
        received.stage,
        received.tracking_id,
    )
    assert recovered.impacted == received.impacted
    assert recovered.title == received.title


def test_a_new_communication_is_a_new_event() -> None:
    alert = forewarn_fixture("common-servicehealth-maintenance-planned-vms.json")
    rescheduled = copy.deepcopy(alert)
    rescheduled["data"]["alertContext"]["properties"]["stage"] = "Rescheduled"
    assert (
        event_from_row(service_health_row(rescheduled), NOW).event_id
        != event_from_row(service_health_row(alert), NOW).event_id
    )


def test_resource_health_row_has_the_webhook_event_id() -> None:
    legacy = load_fixture("legacy-activitylog-resourcehealth.json")
    activity = legacy["data"]["context"]["activityLog"]
    resource = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-app/providers/"
        "Microsoft.Compute/virtualMachines/vm-01"
    )
    activity.update(subscriptionId=SUBSCRIPTION, resourceId=resource)
    received = parse_alert(legacy, NOW)

    row = row_from_event(activity, category="ResourceHealth", subscription_id=SUBSCRIPTION)
    recovered = event_from_row(row, NOW)

    assert recovered.kind == "resource_health"
    assert recovered.event_id == received.event_id
    assert recovered.resource_ids == [resource.lower()]


def test_a_user_initiated_health_change_is_not_for_forewarn() -> None:
    legacy = load_fixture("legacy-activitylog-resourcehealth.json")
    activity = legacy["data"]["context"]["activityLog"]
    activity["properties"]["cause"] = "UserInitiated"
    activity["resourceId"] = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/"
        "Microsoft.Compute/virtualMachines/vm"
    )
    row = row_from_event(activity, category="ResourceHealth", subscription_id=SUBSCRIPTION)
    with pytest.raises(NotForForewarnError):
        event_from_row(row, NOW)


def test_properties_as_json_text_read_the_same() -> None:
    """The query API returns a dynamic column as JSON text."""
    alert = forewarn_fixture("common-servicehealth-maintenance-planned-vms.json")
    row = service_health_row(alert)
    as_text = {**row, "Properties_d": json.dumps(row["Properties_d"])}
    assert event_from_row(as_text, NOW) == event_from_row(row, NOW)


# Finding 3 (issue 16): in AzureActivity a Service Health row's resource is its subscription
# (Microsoft's Activity Log schema, ServiceHealth category: "resourceId":
# "/subscriptions/<subscription ID>"); the catch-up must accept it as Azure writes it.
#   GIVEN _ResourceId                          THEN
#   /subscriptions/{id} (lower case, Azure's)  accepted: the webhook's event id, no resource ids
#   /subscriptions/{ID} (upper case)           accepted the same
#   /subscriptions/not-a-guid                  invalid, named at .../activityLog/resourceId
@pytest.mark.parametrize(
    ("resource", "accepted"),
    [
        pytest.param("/subscriptions/{sub}", True, id="subscription-scope"),
        pytest.param("/SUBSCRIPTIONS/{SUB}", True, id="subscription-scope-upper-case"),
        pytest.param("/subscriptions/not-a-guid", False, id="not-a-subscription"),
    ],
)
def test_a_service_health_row_names_its_subscription_as_its_resource(
    resource: str, accepted: bool
) -> None:
    from shared.parsing.errors import InvalidAlertError

    alert = forewarn_fixture("common-servicehealth-maintenance-planned.json")
    row = service_health_row(alert)
    subscription = row["SubscriptionId"]
    row["_ResourceId"] = resource.format(sub=subscription, SUB=subscription.upper())
    if not accepted:
        with pytest.raises(InvalidAlertError, match="resourceId"):
            event_from_row(row, NOW)
        return
    recovered = event_from_row(row, NOW)
    assert recovered.event_id == parse_alert(alert, NOW).event_id
    assert recovered.resource_ids == []
    assert subscription.lower() in [s.lower() for s in recovered.subscription_ids]


def test_the_stand_in_writes_a_service_health_row_as_azure_does() -> None:
    alert = forewarn_fixture("common-servicehealth-maintenance-planned.json")
    row = service_health_row(alert)
    assert row["_ResourceId"] == f"/subscriptions/{row['SubscriptionId']}".lower()
