"""Code and infrastructure agree on every name: queues, tables, containers, settings.

shared/names.py is the one place the code takes these names from; infra/ declares the same
names in Bicep. This test reads both (the Bicep through pycep-parser) and fails when either
side gains, loses or misspells one, in both directions.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from shared import names
from tests.support.bicep import INFRA, ROOT, bicep, walk

# Settings the code reads that infra must NOT set, each with its reason.
LOCAL_ONLY_SETTINGS = {
    # A static bearer token for tests and local fakes; in Azure the managed identity is used.
    names.SETTING_ARM_TOKEN: "local only; Azure uses the managed identity",
}
# Settings infra leaves unset on purpose: the app works them out from another setting.
DERIVED_SETTINGS = {
    names.SETTING_LOG_ANALYTICS_ENDPOINT: "the cloud of FOREWARN_ARM_ENDPOINT (environment())",
}
# Settings only the platform reads (Functions host, App Insights exporter); not forewarn's.
PLATFORM_SETTING = re.compile(
    rf"^({re.escape(names.STORAGE_CONNECTION)}__\w+|APPLICATIONINSIGHTS_AUTHENTICATION_STRING)$"
)


def variable(relative: str, name: str) -> Any:
    return bicep(relative)["variables"][name]["value"]


def names_py_settings() -> dict[str, str]:
    """SETTING_* constants of shared/names.py, by value."""
    return {value: key for key, value in vars(names).items() if key.startswith("SETTING_")}


def bicep_app_settings() -> set[str]:
    """App setting names the Function App module declares literally."""
    found: set[str] = set()
    for node in walk(bicep("modules/functionapp.bicep")["variables"]):
        if (
            isinstance(node, dict)
            and set(node) == {"name", "value"}
            and isinstance(node["name"], str)
            and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", node["name"])
        ):
            found.add(node["name"])
    return found


# --- storage names ----------------------------------------------------------------------------


def test_queues_match_including_poison_queues() -> None:
    assert variable("modules/storage.bicep", "queueNames") == list(names.ALL_QUEUES)
    assert variable("modules/storage.bicep", "poisonSuffix") == names.POISON_SUFFIX
    poison = variable("modules/storage.bicep", "poisonQueueNames")
    assert poison["loop_type"]["detail"] == {"item_name": "queue", "array_name": "queueNames"}
    assert poison["config"] == "${queue}${poisonSuffix}"
    created = bicep("modules/storage.bicep")["resources"]["queues"]["config"]["loop_type"]["detail"]
    assert created["array_name"] == {
        "function": {
            "type": "concat",
            "parameters": {"arg_1": "queueNames", "arg_2": "poisonQueueNames"},
        }
    }


def test_tables_match() -> None:
    assert variable("modules/storage.bicep", "tableNames") == list(names.ALL_TABLES)


def test_containers_match() -> None:
    assert variable("modules/storage.bicep", "containerNames") == list(names.ALL_CONTAINERS)
    # The only other container is the platform's deployment package, named in main.bicep.
    containers = [
        r
        for r in bicep("modules/storage.bicep")["resources"].values()
        if r["type"] == "Microsoft.Storage/storageAccounts/blobServices/containers"
    ]
    assert len(containers) == 2


def test_storage_names_are_valid_for_azure() -> None:
    for queue in [*names.ALL_QUEUES, *(q + names.POISON_SUFFIX for q in names.ALL_QUEUES)]:
        assert re.fullmatch(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]", queue), queue
    for table in names.ALL_TABLES:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,62}", table), table
    for container in names.ALL_CONTAINERS:
        assert re.fullmatch(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]", container), container


# --- settings ---------------------------------------------------------------------------------


def test_every_setting_of_the_code_is_set_by_infra() -> None:
    missing = (
        set(names_py_settings())
        - bicep_app_settings()
        - set(LOCAL_ONLY_SETTINGS)
        - set(DERIVED_SETTINGS)
    )
    assert not missing, f"settings in shared/names.py but not in infra: {sorted(missing)}"


def test_local_only_settings_stay_out_of_azure() -> None:
    assert not set(LOCAL_ONLY_SETTINGS) & bicep_app_settings()


def test_every_setting_infra_sets_is_known_to_the_code() -> None:
    unknown = {
        s
        for s in bicep_app_settings()
        if s not in names_py_settings() and not PLATFORM_SETTING.match(s)
    }
    assert not unknown, f"settings in infra but not in shared/names.py: {sorted(unknown)}"


def test_host_storage_settings_are_those_the_code_reads() -> None:
    """shared/storage.py builds identity-based clients from AzureWebJobsStorage__* settings."""
    infra_suffixes = {
        s.split("__", 1)[1]
        for s in bicep_app_settings()
        if s.startswith(names.STORAGE_CONNECTION + "__")
    }
    assert {
        "credential",
        "clientId",
        "queueServiceUri",
        "tableServiceUri",
        "blobServiceUri",
    } <= infra_suffixes
    storage = ROOT / "shared" / "storage.py"
    if storage.exists():
        read = set(re.findall(r'__(\w+)"', storage.read_text(encoding="utf-8")))
        # accountName is the alternative to the three URIs; infra gives the URIs.
        assert read - {"accountName"} <= infra_suffixes, sorted(read - infra_suffixes)


def test_code_names_forewarn_settings_only_through_names_py() -> None:
    """A FOREWARN_* literal in code that runs in Azure must be one names.py declares.

    The local tooling (the dev host, the CLI and the stand-ins) may read settings of its own
    that never reach Azure; it is left out.
    """
    known = set(names_py_settings())
    local_tooling = tuple(ROOT / "shared" / part for part in ("devhost", "cli", "standins"))
    strays: list[str] = []
    for folder in ("shared", "functions"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "shared" / "names.py" or any(
                path.is_relative_to(folder) for folder in local_tooling
            ):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and re.fullmatch(r"FOREWARN_[A-Z0-9_]+", node.value)
                    and node.value not in known
                ):
                    strays.append(f"{path.relative_to(ROOT)}: {node.value}")
    assert not strays, strays


def test_alert_webhook_targets_the_ingest_route() -> None:
    text = (INFRA / "modules" / "alerts.bicep").read_text(encoding="utf-8")
    assert f"/api/{names.ROUTE_ALERTS}'" in text
