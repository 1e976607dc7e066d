"""The Bicep gives the catch-up and the quietest hour what they read.

GIVEN infra/ (parsed offline with pycep)
THEN  each monitored subscription exports its ServiceHealth and ResourceHealth Activity Log to
      the app's workspace, the app's identity may read that workspace (Log Analytics Reader),
      and the app is told the workspace id and the query endpoint.
"""

from __future__ import annotations

from typing import Any

from shared import names
from tests.support.bicep import bicep, walk

ROLE_LOG_ANALYTICS_READER = "73c42c96-874c-492b-b04d-ab87d138a893"


def resources(module: str, resource_type: str) -> list[dict[str, Any]]:
    found = []
    for resource in bicep(module)["resources"].values():
        if resource["type"] == resource_type:
            config = resource["config"]
            while "config" in config and ("condition" in config or "loop_type" in config):
                config = config["config"]
            found.append(config)
    return found


def test_subscriptions_export_service_and_resource_health_to_the_workspace() -> None:
    settings = resources("modules/subscription.bicep", "Microsoft.Insights/diagnosticSettings")
    assert len(settings) == 1
    properties = settings[0]["properties"]
    assert properties["workspaceId"] == "logAnalyticsWorkspaceId"
    categories = {log["category"] for log in properties["logs"] if log["enabled"] is True}
    assert {"ServiceHealth", "ResourceHealth"} <= categories
    assert bicep("modules/subscription.bicep")["globals"]["scope"]["value"] == "subscription"
    # main.bicep hands every monitored subscription the workspace monitoring made
    monitored = bicep("main.bicep")["modules"]["monitored"]
    assert "logAnalyticsWorkspaceId" in str(monitored)
    assert "monitoring" in str(monitored)


def test_the_app_identity_reads_the_workspace() -> None:
    monitoring = bicep("modules/monitoring.bicep")
    assert ROLE_LOG_ANALYTICS_READER in [
        v for v in walk(monitoring["variables"]) if isinstance(v, str)
    ]
    readers = [
        r
        for r in resources("modules/monitoring.bicep", "Microsoft.Authorization/roleAssignments")
        if r.get("scope") == "workspace"
    ]
    assert readers and readers[0]["properties"]["principalId"] == "appPrincipalId"
    assert readers[0]["properties"]["principalType"] == "ServicePrincipal"


def test_the_app_is_told_the_workspace_and_its_cloud() -> None:
    text = str(bicep("modules/functionapp.bicep")["variables"])
    assert names.SETTING_LOG_ANALYTICS_WORKSPACE_ID in text
    # No query endpoint of one cloud: the app takes it from the ARM endpoint's cloud
    # (shared/loganalytics/client.py), and that one from environment().
    assert names.SETTING_LOG_ANALYTICS_ENDPOINT not in text
    assert "loganalytics" not in text
    arm = next(
        node["value"]
        for node in walk(bicep("modules/functionapp.bicep")["variables"])
        if isinstance(node, dict) and node.get("name") == names.SETTING_ARM_ENDPOINT
    )
    assert arm["operator"]["operands"]["operand_1"]["function"]["type"] == "environment"
    assert "logAnalyticsCustomerId" in str(bicep("modules/monitoring.bicep")["outputs"])
    assert "logAnalyticsCustomerId" in str(bicep("main.bicep")["modules"]["app"])


def test_the_catch_up_table_is_created() -> None:
    assert names.TABLE_CATCHUP in str(bicep("modules/storage.bicep")["variables"]["tableNames"])
