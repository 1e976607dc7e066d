"""The forwarder's release archive (``make forwarder-dist``), installed and run as a VM would.

GIVEN                             WHEN                              THEN
the sources                       built twice                       the same bytes; a sha256
                                                                    file sha256sum -c takes
the archive, unpacked             install.sh --no-enable, the       the package, VERSION, a unit
                                  app's address and key given       naming this install's places,
                                                                    an env file of mode 0600
that installed copy, a stock      python3 -m forwarder --once       one signed 'new' post for
python3, the IMDS stand-in                                          the Reboot in IMDS; exit 0
the same, the app down            --once                            exit 1 (the post waits)
no key given, no env file         install.sh                        exit 2, nothing installed
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from forwarder.release import build
from shared.standins.imds_server import ImdsStandIn
from tests.integration.test_forwarder import KEY, Receiver

pytestmark = pytest.mark.integration

# A VM has a stock python3, not this project's virtual environment: run the installed copy with
# the system's when there is one (3.11+), so nothing of the repository can be imported by it.
_SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def _unpacked(tmp_path: Path) -> Path:
    release = build(tmp_path / "dist", url="https://example.invalid/forwarder.tar.gz")
    with tarfile.open(release.archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    return tmp_path / "unpacked" / f"forewarn-forwarder-{release.version}"


def _install(top: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "sh",
            str(top / "install.sh"),
            "--prefix",
            str(tmp_path / "opt"),
            "--unit-dir",
            str(tmp_path / "units"),
            "--env-file",
            str(tmp_path / "etc" / "forewarn-forwarder.env"),
            "--no-enable",
        ],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs if not name.startswith("#")}


def test_the_archive_is_reproducible_and_its_sha256_checks(tmp_path: Path) -> None:
    first = build(tmp_path / "a")
    second = build(tmp_path / "b", url="https://example.invalid/f.tar.gz?sv=1&sig=x")

    assert first.archive.read_bytes() == second.archive.read_bytes()
    assert first.sha256 == second.sha256
    checked = subprocess.run(
        ["sha256sum", "-c", first.checksum_file.name],
        cwd=first.archive.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    # The snippet checks the archive against this release's sha256 before anything in it runs.
    snippet = second.cloud_init.read_text()
    assert f'echo "{second.sha256}  $d/forwarder.tar.gz" | sha256sum -c -' in snippet
    assert "'https://example.invalid/f.tar.gz?sv=1&sig=x'" in snippet
    assert "FORWARDER_ARCHIVE_URL" in first.cloud_init.read_text()  # no --url: still to fill
    with tarfile.open(first.archive) as tar:
        names = tar.getnames()
    assert "forewarn-forwarder-0.1.0/forwarder/release.py" not in names  # a build tool only
    assert "forewarn-forwarder-0.1.0/forwarder/forewarn-forwarder.service" in names


def test_installed_copy_forwards_a_scheduled_event(tmp_path: Path) -> None:
    top = _unpacked(tmp_path)
    with Receiver() as app, ImdsStandIn(vm_name="sql-01") as imds:
        installed = _install(
            top, tmp_path, FOREWARN_FORWARDER_APP_URL=app.base_url, FOREWARN_FORWARDER_KEY=KEY
        )
        assert installed.returncode == 0, installed.stderr

        env_path = tmp_path / "etc" / "forewarn-forwarder.env"
        assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
        unit = (tmp_path / "units" / "forewarn-forwarder.service").read_text()
        assert f"WorkingDirectory={tmp_path / 'opt'}\n" in unit
        assert f"EnvironmentFile={env_path}\n" in unit
        assert (tmp_path / "opt" / "VERSION").read_text() == "0.1.0\n"
        assert not (tmp_path / "opt" / "forwarder" / "release.py").exists()

        event_id = imds.schedule("Reboot", minutes=15)
        # As systemd would start it: the env file's settings, the install as working directory.
        run = subprocess.run(
            [_SYSTEM_PYTHON, "-m", "forwarder", "--once"],
            cwd=tmp_path / "opt",
            env={
                **_env_file(env_path),
                "FOREWARN_FORWARDER_IMDS_URL": imds.base_url,
                "FOREWARN_FORWARDER_STATE": str(tmp_path / "state" / "state.json"),
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert app.seen() == [("new", event_id, "Scheduled")]
        assert KEY not in run.stderr


def test_once_says_when_the_app_did_not_take_the_post(tmp_path: Path) -> None:
    top = _unpacked(tmp_path)
    with ImdsStandIn(vm_name="sql-01") as imds:
        installed = _install(
            top,
            tmp_path,
            FOREWARN_FORWARDER_APP_URL="http://127.0.0.1:9",  # discard port: nothing answers
            FOREWARN_FORWARDER_KEY=KEY,
        )
        assert installed.returncode == 0, installed.stderr
        imds.schedule("Reboot", minutes=15)
        run = subprocess.run(
            [_SYSTEM_PYTHON, "-m", "forwarder", "--once"],
            cwd=tmp_path / "opt",
            env={
                **_env_file(tmp_path / "etc" / "forewarn-forwarder.env"),
                "FOREWARN_FORWARDER_IMDS_URL": imds.base_url,
                "FOREWARN_FORWARDER_STATE": str(tmp_path / "state.json"),
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert run.returncode == 1
    assert "did not answer" in run.stderr


def test_install_without_a_key_or_env_file_refuses(tmp_path: Path) -> None:
    top = _unpacked(tmp_path)
    installed = _install(top, tmp_path)
    assert installed.returncode == 2
    assert "FOREWARN_FORWARDER_KEY" in installed.stderr
    assert not (tmp_path / "opt").exists()
