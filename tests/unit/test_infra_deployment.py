"""What `azd up` and `azd down` promise beyond the resources' own shape (issues 17 and 25).

GIVEN azure.yaml, infra/ (parsed offline with pycep) and the predown hook
THEN  azd states the version the parameters file needs; the Resource Health rule covers
      scale-set VMs; an Administrative rule (on by default) sends performMaintenance to the app;
      the Function App carries only Flex Consumption settings and no endpoint of one cloud; and
      `azd down` first removes what provisioning made outside any resource group.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.bicep import INFRA, ROOT, bicep

BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
AZD_FLOOR = "1.23.4"  # environment strings become array parameters from this release on


def body(resource: dict[str, Any]) -> dict[str, Any]:
    config = resource["config"]
    while "config" in config and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return config


def project() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))


# --- azd version ----------------------------------------------------------------------------


def test_azure_yaml_requires_the_azd_release_that_reads_array_parameters_from_strings() -> None:
    assert project()["requiredVersions"] == {"azd": f">= {AZD_FLOOR}"}
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    arrays = [
        name
        for name, spec in bicep("main.bicep")["parameters"].items()
        if spec["type"] == "array"
        and str(given["parameters"].get(name, {}).get("value", ""))[:2] == "${"
    ]
    assert arrays, "no array parameter comes from an environment string: is the floor still due?"
    deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert f"azd {AZD_FLOOR}" in deploy


# --- the alert rules ------------------------------------------------------------------------


def test_resource_health_covers_single_and_scale_set_vms() -> None:
    module = bicep("modules/alerts.bicep")
    types = module["variables"]["vmResourceTypes"]["value"]
    assert set(types) == {
        "Microsoft.Compute/virtualMachines",
        "Microsoft.Compute/virtualMachineScaleSets",
        "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
    }
    conditions = body(module["resources"]["resourceHealth"])["properties"]["condition"]["allOf"]
    loop = next(c["anyOf"] for c in conditions if isinstance(c.get("anyOf"), dict))
    assert loop["loop_type"]["detail"]["array_name"] == "vmResourceTypes"
    assert loop["config"] == {"field": "resourceType", "equals": "resourceType"}


def test_an_administrative_rule_sends_perform_maintenance_to_the_app_by_default() -> None:
    module = bicep("modules/alerts.bicep")
    rule = module["resources"]["performMaintenance"]
    assert rule["type"] == "Microsoft.Insights/activityLogAlerts"
    assert rule["config"]["condition"] == "enableAdministrativeAlerts"
    properties = body(rule)["properties"]
    conditions = properties["condition"]["allOf"]
    assert {"field": "category", "equals": "Administrative"} in conditions
    loop = next(c["anyOf"] for c in conditions if "anyOf" in c)
    assert loop["loop_type"]["detail"]["array_name"] == "performMaintenanceOperations"
    assert loop["config"] == {"field": "operationName", "equals": "operation"}
    assert set(module["variables"]["performMaintenanceOperations"]["value"]) == {
        "Microsoft.Compute/virtualMachines/performMaintenance/action",
        "Microsoft.Compute/virtualMachineScaleSets/performMaintenance/action",
        "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/performMaintenance/action",
    }
    (action,) = properties["actions"]["actionGroups"]
    assert action["actionGroupId"]["operator"]["operands"] == {
        "operand_1": "actionGroup",
        "operand_2": "id",
    }
    # On by default, and handed down from main.bicep through each subscription's module.
    assert bicep("main.bicep")["parameters"]["enableAdministrativeAlerts"]["default"] is True
    monitored = body(bicep("main.bicep")["modules"]["monitored"])
    assert monitored["params"]["enableAdministrativeAlerts"] == "enableAdministrativeAlerts"
    alerts = body(bicep("modules/subscription.bicep")["modules"]["alerts"])
    assert alerts["params"]["enableAdministrativeAlerts"] == "enableAdministrativeAlerts"
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    assert given["parameters"]["enableAdministrativeAlerts"]["value"] == (
        "${FOREWARN_ENABLE_ADMINISTRATIVE_ALERTS=true}"
    )


# --- the Function App: Flex Consumption, any cloud -----------------------------------------


def test_the_function_app_has_no_setting_flex_consumption_does_not_offer() -> None:
    module = bicep("modules/functionapp.bicep")
    app = body(module["resources"]["app"])
    assert "ftpsState" not in app["properties"]["siteConfig"]
    policies = [
        body(resource)
        for resource in module["resources"].values()
        if resource["type"] == "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
    ]
    assert [policy["name"] for policy in policies] == ["scm"]  # Flex has no FTP endpoint
    (scm,) = policies
    assert scm["properties"] == {"allow": False}
    assert scm["location"] == "location"  # older API versions refuse the policy without one


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_no_endpoint_of_one_cloud_is_written_into_the_bicep(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for host in (
        "api.loganalytics.io",
        "login.microsoftonline.com",
        "management.azure.com",
        "vault.azure.net",
    ):
        assert host not in text, f"{path.name}: {host} (take it from environment())"
    if "sts.windows.net" in text:
        # Only in the table of v1.0 issuers looked up by environment().name.
        issuers = bicep("modules/functionapp.bicep")["variables"]["v1IssuerHosts"]["value"]
        assert set(issuers) == {"AzureCloud", "AzureUSGovernment", "AzureChinaCloud"}
        assert text.count("sts.windows.net") == 2


def test_secure_webhook_issuers_use_this_clouds_login_endpoint() -> None:
    settings = bicep("modules/functionapp.bicep")["variables"]["secureWebhookSettings"]
    text = json.dumps(settings)
    assert "${loginEndpoint}${secureWebhookTenantId}/v2.0" in text
    assert "${v1IssuerHost}${secureWebhookTenantId}/" in text


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_parameter_descriptions_name_the_alerts_key_not_a_function_key(path: Path) -> None:
    assert "function key only" not in path.read_text(encoding="utf-8"), path.name


# --- azd down ---------------------------------------------------------------------------------


HOOK = INFRA / "hooks" / "remove-subscription-wiring.sh"
HOOK_PWSH = INFRA / "hooks" / "remove-subscription-wiring.ps1"


def test_azd_down_runs_the_removal_hook_first_on_every_system() -> None:
    predown = project()["hooks"]["predown"]
    assert predown["posix"] == {"shell": "sh", "run": "./infra/hooks/remove-subscription-wiring.sh"}
    assert predown["windows"] == {
        "shell": "pwsh",
        "run": "./infra/hooks/remove-subscription-wiring.ps1",
    }
    assert os.access(HOOK, os.X_OK)
    # The hook reads azd's outputs: the export's name comes from the Bicep, not a second copy.
    main = bicep("main.bicep")
    assert main["outputs"]["FOREWARN_ACTIVITY_LOG_EXPORT_NAME"]["value"] == "activityLogExportName"
    for output in ("FOREWARN_MONITORED_SUBSCRIPTIONS", "FOREWARN_IDENTITY_PRINCIPAL_ID"):
        assert output in main["outputs"]
    export = body(bicep("modules/subscription.bicep")["resources"]["activityLogExport"])
    assert export["name"] == "activityLogExportName"
    # The Windows hook makes the same two calls (pwsh cannot run here).
    windows = HOOK_PWSH.read_text(encoding="utf-8")
    for call in ("az monitor diagnostic-settings subscription delete", "az role assignment delete"):
        assert call in windows
        assert call in HOOK.read_text(encoding="utf-8")


FAKE_AZ = """#!/bin/sh
echo "$*" >> "$FAKE_AZ_LOG"
case "$*" in *"$FAKE_AZ_FAIL_ON"*) [ -n "$FAKE_AZ_FAIL_ON" ] && exit 3;; esac
exit 0
"""
SUB_A = "11111111-2222-3333-4444-555555555555"
SUB_B = "66666666-7777-8888-9999-000000000000"
PRINCIPAL = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
EXPORT = "forewarn-prod-activity-log"
OUTPUTS = {
    "FOREWARN_MONITORED_SUBSCRIPTIONS": f"{SUB_A},{SUB_B}",
    "FOREWARN_ACTIVITY_LOG_EXPORT_NAME": EXPORT,
    "FOREWARN_IDENTITY_PRINCIPAL_ID": PRINCIPAL,
}


def run_hook(tmp_path: Path, outputs: dict[str, str], fail_on: str = "", with_az: bool = True):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if with_az:
        (bin_dir / "az").write_text(FAKE_AZ, encoding="utf-8")
        (bin_dir / "az").chmod(0o755)
    log = tmp_path / "az.log"
    log.touch()
    environ = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FAKE_AZ_LOG": str(log),
        "FAKE_AZ_FAIL_ON": fail_on,
        **outputs,
    }
    done = subprocess.run(
        ["sh", str(HOOK)], env=environ, capture_output=True, text=True, timeout=30, check=False
    )
    return done, log.read_text(encoding="utf-8").splitlines()


def test_the_hook_removes_each_subscriptions_export_and_role_assignments(tmp_path: Path) -> None:
    done, calls = run_hook(tmp_path, OUTPUTS)
    assert done.returncode == 0, done.stderr
    assert calls == [
        f"monitor diagnostic-settings subscription delete --name {EXPORT} --subscription {SUB_A}"
        " --yes --only-show-errors",
        f"role assignment delete --assignee {PRINCIPAL} --scope /subscriptions/{SUB_A}"
        " --only-show-errors",
        f"monitor diagnostic-settings subscription delete --name {EXPORT} --subscription {SUB_B}"
        " --yes --only-show-errors",
        f"role assignment delete --assignee {PRINCIPAL} --scope /subscriptions/{SUB_B}"
        " --only-show-errors",
    ]


def test_a_failed_removal_is_named_and_stops_azd_down_after_trying_the_rest(
    tmp_path: Path,
) -> None:
    done, calls = run_hook(tmp_path, OUTPUTS, fail_on=f"--subscription {SUB_A}")
    assert done.returncode == 1
    assert len(calls) == 4  # the others were still tried
    assert f"diagnostic setting '{EXPORT}' of subscription {SUB_A}" in done.stderr
    assert SUB_B not in done.stderr.split("could not remove:")[1]
    assert "run azd down again" in done.stderr


def test_an_environment_never_provisioned_has_nothing_to_remove(tmp_path: Path) -> None:
    done, calls = run_hook(tmp_path, {})
    assert done.returncode == 0
    assert calls == []
    assert "nothing to remove" in done.stderr


def test_without_the_azure_cli_the_hook_says_what_to_install(tmp_path: Path) -> None:
    if any((Path(d) / "az").exists() for d in ("/usr/bin", "/bin")):
        pytest.skip("an Azure CLI is installed system-wide")
    done, _ = run_hook(tmp_path, OUTPUTS, with_az=False)
    assert done.returncode == 1
    assert "needs the Azure CLI (az" in done.stderr
    assert "docs/deploy.md step 7" in done.stderr


# --- what the deployment guide must say -------------------------------------------------------


def test_the_deploy_guide_states_the_operators_permission_the_timers_and_the_costs() -> None:
    deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "`Microsoft.Compute/virtualMachines/performMaintenance/action`" in deploy
    assert "FOREWARN_ENABLE_START_MAINTENANCE true" not in deploy
    for timer in ("`sweep_wave`", "`remind_wave`", "`catch_up`"):
        assert timer in deploy, timer
    costs = deploy.split("## 10. Costs", 1)[1].split("\n## ", 1)[0]
    for meter in ("Flex Consumption", "Storage transactions", "Log Analytics ingestion"):
        assert meter in costs, meter
    assert "FOREWARN_NAME_SUFFIX" in deploy and "az keyvault recover" in deploy
    assert "predown" in deploy
