"""``python -m forwarder.release [--out DIR] [--url URL]``: the forwarder's release archive.

Writes, in ``DIR`` (default ``dist``):

    forewarn-forwarder-VERSION.tar.gz          forewarn-forwarder-VERSION/{install.sh, VERSION,
                                               forwarder/*.py, forwarder/forewarn-forwarder.service}
    forewarn-forwarder-VERSION.tar.gz.sha256   "<hex>  <name>", as ``sha256sum -c`` reads it
    forewarn-forwarder-VERSION-cloud-init.yaml forwarder/cloud-init.yaml with the sha256 (and the
                                               archive's address, when --url is given) filled in

The archive is reproducible: the same sources give the same bytes (fixed times, owners and
order), so its sha256 names the release and a rebuild can be checked against a published one.
VERSION is the project's (pyproject.toml). This module is a build tool: it is not in the archive.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "forewarn-forwarder"
# What a VM needs: the package (this file excluded), its unit and the install script.
PACKAGE_FILES = (
    "__init__.py",
    "__main__.py",
    "agent.py",
    "app.py",
    "config.py",
    "imds.py",
    "state.py",
    "forewarn-forwarder.service",
)
URL_PLACEHOLDER = "FORWARDER_ARCHIVE_URL"
SHA256_PLACEHOLDER = "FORWARDER_ARCHIVE_SHA256"
# 2000-01-01: a fixed time so the bytes depend on the sources only.
_MTIME = 946684800


@dataclass(frozen=True)
class Release:
    version: str
    archive: Path
    sha256: str
    checksum_file: Path
    cloud_init: Path


def project_version(root: Path = HERE.parent) -> str:
    with (root / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = _MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = _MTIME
    info.uname = info.gname = "root"
    tar.addfile(info)


def archive_bytes(version: str) -> bytes:
    top = f"{NAME}-{version}"
    raw = io.BytesIO()
    # gzip's own header carries a time and a file name: both fixed, for reproducible bytes.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        _add_dir(tar, top)
        _add(tar, f"{top}/install.sh", (HERE / "install.sh").read_bytes(), 0o755)
        _add(tar, f"{top}/VERSION", f"{version}\n".encode(), 0o644)
        _add_dir(tar, f"{top}/forwarder")
        for name in PACKAGE_FILES:
            _add(tar, f"{top}/forwarder/{name}", (HERE / name).read_bytes(), 0o644)
    return raw.getvalue()


def cloud_init(sha256: str, url: str | None) -> str:
    text = (HERE / "cloud-init.yaml").read_text(encoding="utf-8")
    text = text.replace(SHA256_PLACEHOLDER, sha256)
    return text.replace(URL_PLACEHOLDER, url) if url else text


def build(out: Path, *, url: str | None = None, version: str | None = None) -> Release:
    version = version or project_version()
    out.mkdir(parents=True, exist_ok=True)
    data = archive_bytes(version)
    sha256 = hashlib.sha256(data).hexdigest()
    archive = out / f"{NAME}-{version}.tar.gz"
    archive.write_bytes(data)
    checksum_file = out / f"{archive.name}.sha256"
    checksum_file.write_text(f"{sha256}  {archive.name}\n", encoding="utf-8")
    snippet = out / f"{NAME}-{version}-cloud-init.yaml"
    snippet.write_text(cloud_init(sha256, url), encoding="utf-8")
    return Release(version, archive, sha256, checksum_file, snippet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m forwarder.release", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("dist"), help="where to write (dist)")
    parser.add_argument("--url", help="where VMs will download the archive (filled in cloud-init)")
    args = parser.parse_args(argv)
    release = build(args.out, url=args.url)
    print(f"{release.archive}  sha256 {release.sha256}")
    print(f"{release.cloud_init}" + ("" if args.url else f"  ({URL_PLACEHOLDER} still to fill)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
