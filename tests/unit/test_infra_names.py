"""Every name infra/ derives from the environment stays within Azure's limits, for any
environment name azd allows (1 to 64 characters) and any name suffix.

GIVEN main.bicep's parameters: the environment name at its shortest and longest, with and
      without a name suffix (parameter nameSuffix, for re-provisioning after azd down)
WHEN  every resource and module deployment name is worked out (tests/support/bicep_names.py)
THEN  each fits its type's length and characters, as "Naming rules and restrictions for Azure
      resources" (Azure Resource Manager documentation) states them, and the names that must
      be unique per environment or globally differ between two environments and between two
      suffixes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.bicep import bicep
from tests.support.bicep_names import UNKNOWN, DerivedName, derived_names

# type: (min length, max length, allowed characters), from Azure's naming rules.
ALERT_NAME = re.compile(r"^[^<>*%{}&:\\?+/#|\x00-\x1f]*[^<>*%{}&:\\?+/#|\x00-\x1f. ]$")
STORAGE_CHILD = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]*[a-z0-9]$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
LIMITS: dict[str, tuple[int, int, re.Pattern[str]]] = {
    "Microsoft.Resources/deployments": (1, 64, re.compile(r"^[-\w.()]+$")),
    "Microsoft.Resources/resourceGroups": (1, 90, re.compile(r"^[-\w.()]*[-\w()]$")),
    "Microsoft.Storage/storageAccounts": (3, 24, re.compile(r"^[a-z0-9]+$")),
    "Microsoft.Storage/storageAccounts/blobServices": (7, 7, re.compile(r"^default$")),
    "Microsoft.Storage/storageAccounts/queueServices": (7, 7, re.compile(r"^default$")),
    "Microsoft.Storage/storageAccounts/tableServices": (7, 7, re.compile(r"^default$")),
    # A storage account has one lifecycle policy, and it is named "default".
    "Microsoft.Storage/storageAccounts/managementPolicies": (7, 7, re.compile(r"^default$")),
    "Microsoft.Storage/storageAccounts/queueServices/queues": (3, 63, STORAGE_CHILD),
    "Microsoft.Storage/storageAccounts/blobServices/containers": (3, 63, STORAGE_CHILD),
    "Microsoft.Storage/storageAccounts/tableServices/tables": (
        3,
        63,
        re.compile(r"^[A-Za-z][A-Za-z0-9]*$"),
    ),
    "Microsoft.KeyVault/vaults": (3, 24, re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]*[a-zA-Z0-9]$")),
    "Microsoft.KeyVault/vaults/secrets": (1, 127, re.compile(r"^[a-zA-Z0-9-]+$")),
    "Microsoft.Web/sites": (2, 60, re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]$")),
    "Microsoft.Web/serverfarms": (1, 60, re.compile(r"^[a-zA-Z0-9-]+$")),
    "Microsoft.Web/sites/basicPublishingCredentialsPolicies": (3, 3, re.compile(r"^(scm|ftp)$")),
    "Microsoft.ManagedIdentity/userAssignedIdentities": (
        3,
        128,
        re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"),
    ),
    "Microsoft.OperationalInsights/workspaces": (
        4,
        63,
        re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]$"),
    ),
    "Microsoft.Insights/components": (1, 260, re.compile(r"^[^%&\\?/\x00-\x1f]*[^%&\\?/. ]$")),
    "Microsoft.Insights/actionGroups": (1, 260, ALERT_NAME),
    "Microsoft.Insights/activityLogAlerts": (1, 260, ALERT_NAME),
    "Microsoft.Insights/diagnosticSettings": (1, 260, ALERT_NAME),
    "Microsoft.Authorization/roleAssignments": (36, 36, GUID),
    "Microsoft.Authorization/roleDefinitions": (36, 36, GUID),  # a guid, like assignments
}

# azd's environment names: letters, digits, '-', '_', '.', '(' and ')', at most 64 characters.
SHORTEST = "p"
LONGEST = "forewarn-production-westeurope-" + "x" * 33
ENVIRONMENTS = [
    pytest.param({"environmentName": SHORTEST}, id="1-char-env"),
    pytest.param({"environmentName": LONGEST}, id="64-char-env"),
    pytest.param({"environmentName": LONGEST, "nameSuffix": "s" * 16}, id="64-char-env+suffix"),
]


def names_for(given: dict[str, Any]) -> list[DerivedName]:
    parameters = {
        "location": "australiasoutheast",
        "alertsKey": "k" * 32,
        "actionLinkKey": "a" * 32,
        "boardReadKey": "b" * 32,
        **given,
    }
    return derived_names(parameters)


def test_the_longest_environment_name_is_the_longest_azd_and_main_bicep_allow() -> None:
    assert len(LONGEST) == 64
    decorators = bicep("main.bicep")["parameters"]["environmentName"]["decorators"]
    assert {"type": "max_length", "argument": 64} in decorators


@pytest.mark.parametrize("given", ENVIRONMENTS)
def test_every_derived_name_fits_its_type(given: dict[str, Any]) -> None:
    names = names_for(given)
    assert len(names) > 40  # every file was read, not only main.bicep
    problems = []
    for derived in names:
        assert derived.type in LIMITS, f"no limit known for {derived.type} ({derived.symbol})"
        shortest, longest, allowed = LIMITS[derived.type]
        name = derived.name
        if name is UNKNOWN:
            problems.append(f"{derived.file} {derived.symbol}: name not derivable offline")
        elif not (shortest <= len(name) <= longest and allowed.match(name)):
            problems.append(
                f"{derived.file} {derived.symbol} ({derived.type}): {name!r} is {len(name)} "
                f"characters; allowed {shortest}-{longest} matching {allowed.pattern}"
            )
    assert not problems, "\n".join(problems)


def _unique_ones(names: list[DerivedName]) -> dict[str, str]:
    """The names that must differ per environment: global ones and the resource groups."""
    wanted = {
        "Microsoft.Storage/storageAccounts",
        "Microsoft.KeyVault/vaults",
        "Microsoft.Web/sites",
        "Microsoft.Resources/resourceGroups",
        "Microsoft.Insights/diagnosticSettings",  # one subscription may feed two environments
    }
    return {f"{n.file}:{n.symbol}": n.name for n in names if n.type in wanted}


def test_two_environments_and_two_suffixes_get_different_names() -> None:
    first = _unique_ones(names_for({"environmentName": "prod"}))
    second = _unique_ones(names_for({"environmentName": "prod2"}))
    suffixed = _unique_ones(names_for({"environmentName": "prod", "nameSuffix": "2"}))
    for key, name in first.items():
        assert name != second[key], key
    # A suffix gives the vault (and every globally unique name) a new name in the same
    # environment: what re-provisioning after `azd down` needs while the old vault is
    # soft-deleted.
    for key in ("modules/keyvault.bicep:vault", "modules/storage.bicep:account"):
        assert first[key] != suffixed[key], key
    # Without a suffix the names stay those of earlier releases (no fourth hash argument).
    token = bicep("main.bicep")["variables"]["resourceToken"]["value"]
    assert "nameSuffix" in str(token)
