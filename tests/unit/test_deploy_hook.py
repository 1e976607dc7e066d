"""`azd deploy` refuses to publish forewarn without a routing file (azure.yaml's predeploy
hook), and checks the file where the project's Python environment is at hand."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "infra" / "hooks" / "check-routing.sh"
SH = shutil.which("sh") or "/bin/sh"


def run_hook(cwd: Path, routing_path: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FOREWARN_CONFIG_PATH"}
    if routing_path is not None:
        env["FOREWARN_CONFIG_PATH"] = routing_path
    return subprocess.run(
        [SH, str(HOOK)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_azure_yaml_runs_the_hook_before_every_deploy() -> None:
    hooks = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))["hooks"]
    assert hooks["predeploy"]["posix"]["run"] == "./infra/hooks/check-routing.sh"
    assert "forewarn init" in hooks["predeploy"]["windows"]["run"]
    assert os.access(HOOK, os.X_OK)


@pytest.mark.parametrize(
    ("content", "routing_path"),
    [(None, None), (None, "config/routing.yaml"), ("", None)],
    ids=["no forewarn.yaml", "no file at FOREWARN_CONFIG_PATH", "empty file"],
)
def test_without_a_routing_file_the_deploy_stops_and_says_what_to_run(
    tmp_path: Path, content: str | None, routing_path: str | None
) -> None:
    # GIVEN a project directory without a usable routing file
    if content is not None:
        (tmp_path / "forewarn.yaml").write_text(content, encoding="utf-8")
    # WHEN azd runs the predeploy hook there
    result = run_hook(tmp_path, routing_path)
    # THEN the deploy stops, naming the file and the command that writes one
    assert result.returncode == 1
    assert f"'{routing_path or 'forewarn.yaml'}'" in result.stderr
    assert "forewarn init" in result.stderr


def test_a_routing_file_is_validated_where_the_project_python_is_at_hand(tmp_path: Path) -> None:
    # GIVEN the project's own directory (its .venv) and a routing file with a typo
    good = (ROOT / "examples" / "routing.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text(good.replace("receivers:", "receivrs:", 1), encoding="utf-8")
    valid = tmp_path / "valid.yaml"
    valid.write_text(good, encoding="utf-8")
    # WHEN the hook runs on each THEN only the valid one passes
    assert run_hook(ROOT, str(broken)).returncode != 0
    passed = run_hook(ROOT, str(valid))
    assert passed.returncode == 0, passed.stderr


def test_without_the_project_python_the_presence_check_is_all(tmp_path: Path) -> None:
    (tmp_path / "forewarn.yaml").write_text("version: 1\n", encoding="utf-8")
    result = run_hook(tmp_path, None)
    assert result.returncode == 0
    assert "not validated" in result.stderr
