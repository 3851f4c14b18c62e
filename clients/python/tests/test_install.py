"""Installed alone in a fresh virtualenv, the SDK brings none of the service's dependencies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SERVICE_ONLY = {
    "flask",
    "werkzeug",
    "sqlalchemy",
    "alembic",
    "stripe",
    "psycopg",
    "psycopg-binary",
    "gunicorn",
    "requests",
    "httpx",
    "pyjwt",
}
PROBE = """
import importlib, json, sys
import entitlements_client
from entitlements_client import TokenVerifier, EntitlementsClient, EventReceiver
from entitlements_client import comments, events, verifier, client
try:
    importlib.import_module("entitlements_client.flask")
    flask_helpers = "imported"
except ModuleNotFoundError as error:
    flask_helpers = error.name
heavy = {"flask", "sqlalchemy", "stripe", "psycopg", "requests", "jwt"}
print(json.dumps({"file": entitlements_client.__file__, "flask_helpers": flask_helpers,
                  "loaded": sorted(heavy & set(sys.modules))}))
"""

pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_sdk_installs_alone_without_the_services_dependencies(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(
        PROJECT,
        source,
        ignore=shutil.ignore_patterns(
            "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache", ".mypy_cache"
        ),
    )
    # The wheel is built offline with this environment's setuptools; the fresh environment
    # then installs it like a site service would, its dependencies from the package index.
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--wheel-dir",
        tmp_path / "dist",
        source,
        cwd=tmp_path,
    )
    [wheel] = (tmp_path / "dist").glob("entitlements_client-*.whl")
    run(sys.executable, "-m", "venv", tmp_path / "venv", cwd=tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        wheel,
        cwd=tmp_path,
    )

    listed = json.loads(run(python, "-m", "pip", "list", "--format", "json", cwd=tmp_path))
    installed = {package["name"].lower() for package in listed}
    assert "entitlements-client" in installed
    assert "cryptography" in installed
    assert installed & SERVICE_ONLY == set()

    probe = json.loads(run(python, "-I", "-c", PROBE, cwd=tmp_path))
    assert Path(probe["file"]).is_relative_to(tmp_path / "venv")
    assert probe["loaded"] == []
    # The Flask helpers say what is missing instead of half-working.
    assert probe["flask_helpers"] == "flask"
