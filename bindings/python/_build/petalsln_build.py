"""A PEP 517 build backend for this pure-Python package, standard library only.

The package is a few .py files over ctypes, so building it needs nothing but zipfile: keeping
the build requirements empty lets `pip install bindings/python` work offline, where fetching
setuptools and wheel would fail.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import zipfile

NAME = "petalsln"
VERSION = "0.1.0"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(HERE, NAME)
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
TAG = "py3-none-any"


def _metadata() -> str:
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
            "Summary: Paid, decentralized LLM inference (a Petals swarm paid over Lightning): Python bindings "
            "over the petalsln C library\nRequires-Python: >=3.8\nDescription-Content-Type: text/markdown\n\n"
            + readme)


def _package_files():
    for name in sorted(os.listdir(PACKAGE_DIR)):
        if name.endswith(".py") or name == "py.typed":
            yield os.path.join(PACKAGE_DIR, name), f"{NAME}/{name}"


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _write_dist_info(directory: str) -> str:
    path = os.path.join(directory, DIST_INFO)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    return DIST_INFO


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _write_dist_info(metadata_directory)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    filename = f"{NAME}-{VERSION}-{TAG}.whl"
    entries = [(arc, open(src, "rb").read()) for src, arc in _package_files()]
    entries.append((f"{DIST_INFO}/METADATA", _metadata().encode()))
    entries.append((f"{DIST_INFO}/WHEEL",
                    f"Wheel-Version: 1.0\nGenerator: petalsln_build\nRoot-Is-Purelib: true\nTag: {TAG}\n".encode()))
    entries.append((f"{DIST_INFO}/top_level.txt", f"{NAME}\n".encode()))
    record = "".join(f"{arc},{_digest(data)},{len(data)}\n" for arc, data in entries) + f"{DIST_INFO}/RECORD,,\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as whl:
        for arc, data in entries:
            whl.writestr(arc, data)
        whl.writestr(f"{DIST_INFO}/RECORD", record)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{VERSION}"
    filename = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as tar:
        for rel in ["pyproject.toml", "README.md", "_build/petalsln_build.py"]:
            tar.add(os.path.join(HERE, rel), arcname=f"{base}/{rel}")
        for src, arc in _package_files():
            tar.add(src, arcname=f"{base}/{arc}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = _metadata().encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return filename
