"""Offline checks of infra/ and azure.yaml: they parse, they have the shape azd and ARM expect,
and they keep the security properties the deployment guide promises.

Nothing here talks to Azure or needs the Bicep CLI (neither is available offline): the Bicep
is read with pycep-parser and the project files are checked against JSON Schemas kept in
tests/fixtures/schemas/ (each says where its structure comes from). checkov runs separately
(`make infra-check`), in its own virtual environment.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.support.bicep import INFRA, ROOT, bicep, parse, walk

SCHEMAS = ROOT / "tests" / "fixtures" / "schemas"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Well-known built-in role definition ids (Azure built-in roles reference).
ROLE_READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
ROLE_VM_CONTRIBUTOR = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"
ROLE_QUEUE_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
ROLE_TABLE_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
ROLE_BLOB_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
ROLE_KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
ROLE_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"


def resources_of_type(parsed: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    """Resource bodies of one type, looking through loops and conditions."""
    found = []
    for resource in parsed.get("resources", {}).values():
        if resource["type"] == resource_type:
            found.append(body(resource["config"]))
    return found


def body(config: dict[str, Any]) -> dict[str, Any]:
    """The object a resource or module declares, under any `for` or `if` wrapper."""
    while "config" in config and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


# How azd fills a parameter from outside the file: ${VARIABLE}, ${VARIABLE=default} or
# $(secretOrRandomPassword ${VAULT_VARIABLE} secret-name).
AZD_SUBSTITUTION = re.compile(
    r"\$\{[A-Z][A-Z0-9_]*(=[^}]*)?\}|\$\(secretOrRandomPassword \$\{[A-Z][A-Z0-9_]*\} [a-z0-9-]+\)"
)


def load_schema(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


# --- every file parses --------------------------------------------------------------------


def test_there_is_bicep_to_check() -> None:
    names = {path.relative_to(INFRA).as_posix() for path in BICEP_FILES}
    assert "main.bicep" in names
    assert {"modules/storage.bicep", "modules/functionapp.bicep", "modules/alerts.bicep"} <= names


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_bicep_file_parses(path: Path) -> None:
    parsed = parse(path)
    assert parsed.get("resources") or parsed.get("modules"), f"{path.name} declares nothing"


def test_every_module_reference_points_at_a_file() -> None:
    for path in BICEP_FILES:
        parsed = bicep(path.relative_to(INFRA).as_posix())
        for name, module in parsed.get("modules", {}).items():
            target = path.parent / module["detail"]["path"]
            assert target.is_file(), f"{path.name}: module {name} -> missing {target.name}"


# --- azure.yaml and the parameters file ---------------------------------------------------


def test_azure_yaml_matches_schema_and_deploys_the_function_app() -> None:
    project = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    load_schema("azure-yaml.schema.json").validate(project)
    assert project["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    module = INFRA.parent / project["infra"]["path"] / f"{project['infra']['module']}.bicep"
    assert module == INFRA / "main.bicep"


def test_parameters_file_matches_schema() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    load_schema("arm-deployment-parameters.schema.json").validate(parameters)


def test_parameters_file_names_only_parameters_of_main() -> None:
    declared = bicep("main.bicep")["parameters"]
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert set(given) <= set(declared), f"unknown parameters: {sorted(set(given) - set(declared))}"
    # Parameters without a default must come from the file, or azd would prompt for them.
    required = {name for name, spec in declared.items() if "default" not in spec}
    assert required <= set(given)


def test_secret_values_never_come_from_the_repo() -> None:
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    for path in BICEP_FILES:
        for name, spec in bicep(path.relative_to(INFRA).as_posix()).get("parameters", {}).items():
            if any(d["type"] == "secure" for d in spec["decorators"]):
                assert spec.get("default") in (None, "", {}), f"{path.name}: {name} has a default"
                if path.name == "main.bicep" and name in given:
                    # Only as an azd substitution: an environment variable, or a value azd
                    # reads from the vault (or generates); never a literal secret.
                    value = given[name]["value"]
                    assert AZD_SUBSTITUTION.fullmatch(value), f"{name} is set in the file"


def test_no_key_is_read_back_from_the_app() -> None:
    # listKeys on an app created by the same deployment is racy, and its keys open more than
    # /api/alerts; the alerts key is a parameter written to the vault instead.
    for path in BICEP_FILES:
        assert "listKeys" not in path.read_text(encoding="utf-8"), path.name


def test_the_alerts_key_is_generated_or_read_back_from_the_vault_by_azd() -> None:
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert given["alertsKey"]["value"] == (
        "$(secretOrRandomPassword ${AZURE_KEY_VAULT_NAME} alerts-key)"
    )
    main = bicep("main.bicep")
    assert main["variables"]["alertsKeySecretName"]["value"] == "alerts-key"
    spec = main["parameters"]["alertsKey"]
    assert any(d["type"] == "secure" for d in spec["decorators"])
    assert spec.get("default") is None


def test_the_action_link_key_is_generated_or_read_back_and_referenced_from_the_vault() -> None:
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert given["actionLinkKey"]["value"] == (
        "$(secretOrRandomPassword ${AZURE_KEY_VAULT_NAME} action-link-key)"
    )
    assert given["publicUrl"]["value"] == "${FOREWARN_PUBLIC_URL=}"
    main = bicep("main.bicep")
    assert main["variables"]["actionLinkKeySecretName"]["value"] == "action-link-key"
    spec = main["parameters"]["actionLinkKey"]
    assert any(d["type"] == "secure" for d in spec["decorators"])
    assert spec.get("default") is None
    app = (INFRA / "modules" / "functionapp.bicep").read_text(encoding="utf-8")
    assert (
        "name: 'FOREWARN_ACTION_LINK_KEY'\n    value: '@Microsoft.KeyVault(SecretUri="
        "${keyVaultUri}secrets/${actionLinkKeySecretName}/)'"
    ) in app


def test_the_board_read_key_is_generated_or_read_back_and_referenced_from_the_vault() -> None:
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert given["boardReadKey"]["value"] == (
        "$(secretOrRandomPassword ${AZURE_KEY_VAULT_NAME} board-read-key)"
    )
    main = bicep("main.bicep")
    assert main["variables"]["boardReadKeySecretName"]["value"] == "board-read-key"
    spec = main["parameters"]["boardReadKey"]
    assert any(d["type"] == "secure" for d in spec["decorators"])
    assert spec.get("default") is None
    app = (INFRA / "modules" / "functionapp.bicep").read_text(encoding="utf-8")
    assert (
        "name: 'FOREWARN_BOARD_READ_KEY'\n    value: '@Microsoft.KeyVault(SecretUri="
        "${keyVaultUri}secrets/${boardReadKeySecretName}/)'"
    ) in app


def test_no_machine_paths_in_infra_files() -> None:
    for path in [*BICEP_FILES, INFRA / "main.parameters.json", ROOT / "azure.yaml"]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(/home/|/root/|/tmp/|/work/|[A-Z]:\\\\)", text), path.name


# --- what the deployment promises -----------------------------------------------------------


def test_main_deploys_at_subscription_scope_and_wires_each_monitored_subscription() -> None:
    main = bicep("main.bicep")
    assert main["globals"]["scope"]["value"] == "subscription"
    monitored = main["modules"]["monitored"]
    assert monitored["detail"]["path"] == "modules/subscription.bicep"
    loop = monitored["config"]["loop_type"]["detail"]
    assert loop["array_name"] == "monitoredSubscriptions"
    scope = body(monitored["config"])["scope"]["function"]
    assert scope == {"type": "subscription", "parameters": {"subscription_id": loop["item_name"]}}
    assert main["parameters"]["monitoredSubscriptionIds"]["type"] == "array"


def test_function_app_runs_python_311_on_flex_consumption_with_its_identity() -> None:
    module = bicep("modules/functionapp.bicep")
    (plan,) = resources_of_type(module, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    (app,) = resources_of_type(module, "Microsoft.Web/sites")
    assert app["identity"]["type"] == "UserAssigned"
    properties = app["properties"]
    assert properties["httpsOnly"] is True
    assert properties["keyVaultReferenceIdentity"] == "identityId"
    config = properties["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    assert properties["siteConfig"]["minTlsVersion"] == "1.2"


def test_host_storage_connection_is_identity_based() -> None:
    settings = {
        node["name"]: node["value"]
        for node in walk(bicep("modules/functionapp.bicep")["variables"])
        if isinstance(node, dict)
        and set(node) == {"name", "value"}
        and isinstance(node["name"], str)
    }
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    for service in ("queue", "table", "blob"):
        assert settings[f"AzureWebJobsStorage__{service}ServiceUri"] == f"{service}Endpoint"
    assert "AzureWebJobsStorage" not in settings, "a connection string would need shared keys"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].endswith("Authorization=AAD")


def test_storage_account_refuses_keys_old_tls_and_anonymous_reads() -> None:
    (account,) = resources_of_type(
        bicep("modules/storage.bicep"), "Microsoft.Storage/storageAccounts"
    )
    properties = account["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["allowBlobPublicAccess"] is False
    assert properties["supportsHttpsTrafficOnly"] is True


def test_key_vault_uses_rbac_soft_delete_and_purge_protection() -> None:
    module = bicep("modules/keyvault.bicep")
    (vault,) = resources_of_type(module, "Microsoft.KeyVault/vaults")
    properties = vault["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["enablePurgeProtection"] is True
    # Secrets are created only from the secure object; with its empty default, none are.
    secrets = module["resources"]["secrets"]["config"]["loop_type"]
    assert secrets["detail"]["array_name"] == {
        "function": {"type": "items", "parameters": {"arg_1": "secretValues"}}
    }
    assert module["parameters"]["secretValues"]["default"] == {}


def test_channel_secrets_are_key_vault_references() -> None:
    loop = bicep("modules/functionapp.bicep")["variables"]["channelSecretSettings"]["value"]
    assert loop["config"]["value"].startswith(
        "@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/"
    )


@pytest.mark.parametrize(
    ("module", "roles"),
    [
        (
            "modules/storage.bicep",
            {ROLE_QUEUE_CONTRIBUTOR, ROLE_TABLE_CONTRIBUTOR, ROLE_BLOB_OWNER},
        ),
        ("modules/keyvault.bicep", {ROLE_KV_SECRETS_USER}),
        ("modules/monitoring.bicep", {ROLE_METRICS_PUBLISHER}),
        ("modules/subscription.bicep", {ROLE_READER}),
    ],
)
def test_app_identity_gets_its_roles(module: str, roles: set[str]) -> None:
    role_ids = {v for v in walk(bicep(module).get("variables", {})) if isinstance(v, str)}
    assert roles <= role_ids
    assignments = resources_of_type(bicep(module), "Microsoft.Authorization/roleAssignments")
    assert assignments
    assert all(a["properties"]["principalType"] for a in assignments)


def test_the_app_identity_is_only_a_reader_of_the_watched_subscriptions() -> None:
    # `forewarn start-maintenance` runs with the operator's own login, so the internet-facing
    # app gets no write role (issue 17); Start from the message adds one custom role, only when
    # turned on, that may start maintenance and nothing else (test_infra_start_role.py).
    module = bicep("modules/subscription.bicep")
    assert module["globals"]["scope"]["value"] == "subscription"
    assignment, start = resources_of_type(module, "Microsoft.Authorization/roleAssignments")
    assert "startMaintenanceRole" in str(start["properties"]["roleDefinitionId"])
    assert ROLE_READER in assignment["properties"]["roleDefinitionId"]["function"]["parameters"][
        "resource_name_1"
    ] or "readerRoleId" in str(assignment["properties"]["roleDefinitionId"])
    for path in BICEP_FILES:
        assert ROLE_VM_CONTRIBUTOR not in path.read_text(encoding="utf-8"), path.name
    assert "enableStartMaintenance" not in bicep("main.bicep")["parameters"]


def test_action_group_is_global_with_common_schema_webhook_to_alerts() -> None:
    (group,) = resources_of_type(bicep("modules/alerts.bicep"), "Microsoft.Insights/actionGroups")
    assert group["location"] == "Global"
    (receiver,) = group["properties"]["webhookReceivers"]
    assert receiver["useCommonAlertSchema"] is True
    assert receiver["useAadAuth"] == "useSecureWebhook"
    # The alerts key, from a secure parameter: a platform key would open every function.
    assert receiver["serviceUri"] == "${alertsUrl}?code=${uriComponent(alertsKey)}"
    alerts_key = bicep("modules/alerts.bicep")["parameters"]["alertsKey"]
    assert any(d["type"] == "secure" for d in alerts_key["decorators"])
    assert {"objectId", "identifierUri", "tenantId"} <= set(receiver)


def test_activity_log_alerts_cover_service_health_resource_health_and_administrative() -> None:
    module = bicep("modules/alerts.bicep")
    alerts = resources_of_type(module, "Microsoft.Insights/activityLogAlerts")
    assert len(alerts) == 3
    conditions = []
    for alert in alerts:
        assert alert["location"] == "Global"
        conditions.append(alert["properties"]["condition"]["allOf"])
    service_health, resource_health, administrative = conditions
    assert {"field": "category", "equals": "ServiceHealth"} in service_health
    incident_loop = module["variables"]["incidentTypeConditions"]["value"]
    assert incident_loop["config"] == {"field": "properties.incidentType", "equals": "incidentType"}
    assert {"field": "category", "equals": "ResourceHealth"} in resource_health
    assert {"field": "category", "equals": "Administrative"} in administrative


def test_maintenance_is_always_among_the_incident_types() -> None:
    main = bicep("main.bicep")
    allowed = next(
        d
        for d in main["parameters"]["serviceHealthIncidentTypes"]["decorators"]
        if d["type"] == "allowed"
    )
    assert set(allowed["argument"]) == {
        "Maintenance",
        "Incident",
        "Security",
        "ActionRequired",
        "Informational",
    }
    union = main["variables"]["incidentTypes"]["value"]["function"]
    assert union["type"] == "union"
    assert ["Maintenance"] in union["parameters"].values()


def test_resource_health_reaches_forewarn_only_when_the_platform_took_a_vm_down() -> None:
    alerts = resources_of_type(
        bicep("modules/alerts.bicep"), "Microsoft.Insights/activityLogAlerts"
    )
    resource_health = next(
        alert["properties"]["condition"]["allOf"]
        for alert in alerts
        if {"field": "category", "equals": "ResourceHealth"}
        in alert["properties"]["condition"]["allOf"]
    )
    assert {"field": "properties.cause", "equals": "PlatformInitiated"} in resource_health
    any_of = next(
        condition["anyOf"]
        for condition in resource_health
        if isinstance(condition.get("anyOf"), list)
    )
    assert {c["field"] for c in any_of} == {"properties.currentHealthStatus"}
    assert {c["equals"] for c in any_of} == {"Unavailable", "Degraded"}


def test_every_setting_the_example_routing_file_names_is_a_bicep_channel_secret() -> None:
    routing = yaml.safe_load((ROOT / "examples" / "routing.yaml").read_text(encoding="utf-8"))
    named = {
        value
        for receiver in routing["receivers"]
        for key, value in (receiver.get("options") or {}).items()
        if key.endswith("_setting")
    }
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    secrets = {entry["setting"] for entry in given["parameters"]["channelSecrets"]["value"]}
    assert named <= secrets, named - secrets
    deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    configuration = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for setting in secrets:
        assert f"`{setting}`" in deploy, setting
        assert f"`{setting}`" in configuration, setting


def test_the_deploy_guide_promises_the_test_marker_the_webhook_really_carries() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert '"synthetic": true' not in deploy
    assert '"is_test": true' in deploy
    assert "-a webhook forewarn" in deploy  # the test notification names its receiver
    source = (ROOT / "shared" / "render" / "webhook.py").read_text(encoding="utf-8")
    assert '"is_test": event.is_test' in source
