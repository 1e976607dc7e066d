"""``forewarn config validate`` warns about placeholder targets, so that a routing file copied
from the example (``forewarn init``) is not deployed as it is: every message to a reserved
example domain (RFC 2606: example.com/.net/.org, and the .example, .test and .invalid names)
goes nowhere.

GIVEN a routing file
WHEN  ``forewarn config validate FILE`` runs
THEN  it is still valid (exit 0), and stderr names each placeholder by receiver and where
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"

REAL = """\
version: 1
receivers:
  - name: ops
    type: email
    targets: [ops@contoso.nl]
    options: {from: forewarn@contoso.nl, smtp_host: smtp.contoso.nl}
  - name: cmdb
    type: webhook
    targets: [https://cmdb.contoso.nl/hooks/azure]
    options: {secret_setting: FOREWARN_WEBHOOK_SIGNING_SECRET}
route:
  receivers: [ops, cmdb]
"""


def validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["config", "validate", str(path)])
    return code, capsys.readouterr().err.splitlines()


def test_the_example_unchanged_is_valid_but_said_to_be_the_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "forewarn.yaml"
    shutil.copy(EXAMPLE, copy)
    code, warnings = validate(copy, capsys)
    assert code == 0
    assert any("is examples/routing.yaml unchanged" in line for line in warnings), warnings
    # Each placeholder target, by where it is: the email's, the webhook's.
    text = "\n".join(warnings)
    assert "/receivers/0/targets/0: 'platform-team@example.com' is a placeholder" in text
    assert "/receivers/4/targets/0: 'https://cmdb.example.com/" in text
    assert "/receivers/0/options/smtp_host: 'smtp.example.com' is a placeholder" in text


TARGET = "nothing sent there arrives"
RELAY = "nothing sent through it arrives"
OWN = "replace it with your own"


@pytest.mark.parametrize(
    ("replace", "replacement", "pointer", "consequence"),
    [
        # GIVEN one value at a reserved example name     THEN the warning says what it costs:
        ("ops@contoso.nl]", "ops@example.org]", "/receivers/0/targets/0", TARGET),
        (
            "https://cmdb.contoso.nl/hooks/azure",
            "https://hooks.example.net/x",
            "/receivers/1/targets/0",
            TARGET,
        ),
        (
            "smtp_host: smtp.contoso.nl",
            "smtp_host: relay.corp.test",
            "/receivers/0/options/smtp_host",
            RELAY,
        ),
        # A sender address or EHLO name receives nothing: "nothing arrives there" was untrue.
        (
            "from: forewarn@contoso.nl",
            "from: forewarn@EXAMPLE.COM",
            "/receivers/0/options/from",
            OWN,
        ),
        (
            "from: forewarn@contoso.nl",
            "from: forewarn@contoso.nl, ehlo_name: forewarn.test",
            "/receivers/0/options/ehlo_name",
            OWN,
        ),
    ],
)
def test_a_placeholder_target_or_address_is_a_warning_naming_where(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    replace: str,
    replacement: str,
    pointer: str,
    consequence: str,
) -> None:
    routing = tmp_path / "forewarn.yaml"
    routing.write_text(REAL.replace(replace, replacement), encoding="utf-8")
    code, warnings = validate(routing, capsys)
    assert code == 0
    assert [line for line in warnings if "placeholder" in line] == [
        f"{routing}: warning: {pointer}: {replacement.split(': ')[-1].rstrip(']')!r} is a "
        f"placeholder (a reserved example name): {consequence}"
    ]


def test_real_names_that_merely_contain_example_are_not_placeholders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routing = tmp_path / "forewarn.yaml"
    routing.write_text(REAL.replace("contoso.nl", "example.company.nl"), encoding="utf-8")
    code, warnings = validate(routing, capsys)
    assert code == 0
    assert warnings == []
