"""docs/deploy.md names only azd environment values the deployment has, and says where each
value it asks for comes from.

GIVEN docs/deploy.md, infra/main.parameters.json and infra/main.bicep
THEN  every `azd env set NAME` (commands and the settings table) is a value the parameters file
      reads (or azd's own AZURE_LOCATION), every `azd env get-value NAME` is a Bicep output, and
      the FOREWARN_PUBLIC_URL row names the command that prints the app's host
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
PARAMETERS = set(
    re.findall(r"\$\{([A-Z_]+)", (ROOT / "infra" / "main.parameters.json").read_text("utf-8"))
)
OUTPUTS = set(
    re.findall(r"^output ([A-Za-z_]+) ", (ROOT / "infra" / "main.bicep").read_text("utf-8"), re.M)
)
AZD_OWN = {"AZURE_LOCATION"}  # azd reads it itself


def _table_rows(heading: str) -> list[str]:
    start = DEPLOY.index(heading)
    rows = []
    for line in DEPLOY[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_every_value_deploy_md_sets_is_read_by_the_parameters_file() -> None:
    commands = set(re.findall(r"azd env set ([A-Z_]+)", DEPLOY))
    table = {
        name
        for row in _table_rows("| `azd env set ...` | Effect |")
        for name in re.findall(r"`([A-Z][A-Z_]+) ", row.split("|")[1])
    }
    assert table, "deploy.md has no `azd env set` table"
    assert sorted((commands | table) - PARAMETERS - AZD_OWN) == []


def test_every_value_deploy_md_gets_is_an_output() -> None:
    assert sorted(set(re.findall(r"azd env get-value ([A-Z_]+)", DEPLOY)) - OUTPUTS) == []


def test_the_public_url_row_says_which_command_prints_the_apps_host() -> None:
    # "the app's host is `azd env get-value` of the deployment's output" named no output.
    (row,) = [
        r for r in _table_rows("| `azd env set ...` | Effect |") if "FOREWARN_PUBLIC_URL" in r
    ]
    assert "azd env get-value FOREWARN_ALERTS_URL" in row
