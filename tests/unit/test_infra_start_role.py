"""Start from the message gives the app exactly one more power, and only when it is turned on.

GIVEN the Bicep of infra/ (read offline with pycep-parser)
WHEN  every role definition and every role assignment to the app's identity is collected
THEN  the one custom role holds exactly the three actions Start needs (no wildcard, no write,
      no delete, no data action), is assignable to one subscription only, and it and its
      assignment exist only when ``enableStartFromMessage`` is true; no built-in role broader
      than Reader is given to the app on a subscription, and the same parameter sets the app
      setting ``FOREWARN_ENABLE_START_FROM_MESSAGE``.

Action names as Azure's resource provider operations list them (Microsoft.Compute):
``virtualMachines/read``, ``virtualMachines/instanceView/read``,
``virtualMachines/performMaintenance/action``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.bicep import INFRA, bicep, walk
from tests.unit.test_infra import ROLE_READER, ROLE_VM_CONTRIBUTOR, body

START_ACTIONS = [
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachines/instanceView/read",
    "Microsoft.Compute/virtualMachines/performMaintenance/action",
]
# Built-in roles that would let the internet-facing app change or delete VMs (Azure built-in
# roles reference): none may appear anywhere in infra/.
ROLE_OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
ROLE_CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
FORBIDDEN_BUILT_INS = {ROLE_OWNER, ROLE_CONTRIBUTOR, ROLE_VM_CONTRIBUTOR}


def _resources(relative: str, resource_type: str) -> list[tuple[dict[str, Any], Any]]:
    """(body, condition or None) of each resource of one type in one file."""
    found = []
    for resource in bicep(relative).get("resources", {}).values():
        if resource["type"] == resource_type:
            config = resource["config"]
            found.append((body(config), config.get("condition")))
    return found


def _all_files() -> list[str]:
    return [str(path.relative_to(INFRA)) for path in sorted(INFRA.rglob("*.bicep"))]


def test_the_only_custom_role_holds_exactly_the_three_start_actions() -> None:
    definitions = [
        (relative, found)
        for relative in _all_files()
        for found in _resources(relative, "Microsoft.Authorization/roleDefinitions")
    ]
    assert [relative for relative, _ in definitions] == ["modules/subscription.bicep"]
    (_, (role, condition)) = definitions[0]
    assert condition == "enableStartFromMessage"
    assert role["properties"]["type"] == "CustomRole"
    (permission,) = role["properties"]["permissions"]
    actions = bicep("modules/subscription.bicep")["variables"]["startMaintenanceActions"]["value"]
    assert permission["actions"] == "startMaintenanceActions"
    assert actions == START_ACTIONS
    for action in actions:
        assert "*" not in action
        assert not action.lower().endswith(("/write", "/delete"))
    assert permission["notActions"] == []
    assert permission["dataActions"] == []
    assert permission["notDataActions"] == []
    (scope,) = role["properties"]["assignableScopes"]
    assert json.dumps(scope) == json.dumps(
        {
            "operator": {
                "type": "property_accessor",
                "operands": {
                    "operand_1": {
                        "function": {
                            "type": "subscription",
                            "parameters": {"subscription_id": None},
                        }
                    },
                    "operand_2": "id",
                },
            }
        }
    )


def test_the_app_holds_reader_always_and_the_start_role_only_when_turned_on() -> None:
    assignments = _resources(
        "modules/subscription.bicep", "Microsoft.Authorization/roleAssignments"
    )
    by_role: dict[str, Any] = {}
    for assignment, condition in assignments:
        assert assignment["properties"]["principalId"] == "appPrincipalId"
        role = json.dumps(assignment["properties"]["roleDefinitionId"])
        by_role[role] = condition
    reader = [role for role in by_role if "readerRoleId" in role]
    start = [role for role in by_role if "startMaintenanceRole" in role]
    assert len(reader) == 1
    assert len(start) == 1
    assert by_role[reader[0]] is None  # Reader: always
    assert by_role[start[0]] == "enableStartFromMessage"
    assert len(by_role) == 2, "the app gets no other role on a watched subscription"
    variables = bicep("modules/subscription.bicep")["variables"]
    assert variables["readerRoleId"]["value"] == ROLE_READER


def test_no_broad_built_in_role_and_no_wildcard_action_anywhere_in_infra() -> None:
    for relative in _all_files():
        text = (INFRA / relative).read_text(encoding="utf-8").lower()
        for role in FORBIDDEN_BUILT_INS:
            assert role not in text, (relative, role)
        for value in walk(bicep(relative)):
            if isinstance(value, str) and value.startswith("Microsoft."):
                assert not value.endswith("/*"), (relative, value)
                assert value != "*", relative


def test_one_parameter_turns_on_the_role_and_the_app_setting_together() -> None:
    main = bicep("main.bicep")
    assert main["parameters"]["enableStartFromMessage"]["default"] is False
    modules = main["modules"]
    subscription_params = body(modules["monitored"]["config"])["params"]
    app_params = body(modules["app"]["config"])["params"]
    assert subscription_params["enableStartFromMessage"] == "enableStartFromMessage"
    assert app_params["enableStartFromMessage"] == "enableStartFromMessage"
    app = bicep("modules/functionapp.bicep")
    settings = {
        item["name"]: item["value"]
        for item in walk(app.get("variables", {}))
        if isinstance(item, dict) and isinstance(item.get("name"), str) and "value" in item
    }
    setting = json.dumps(settings["FOREWARN_ENABLE_START_FROM_MESSAGE"])
    assert "enableStartFromMessage" in setting
    signed_in = json.dumps(settings["FOREWARN_ACTIONS_SIGN_IN"])
    assert "actionsSignInEasyAuth" in signed_in and "easyauth" in signed_in
