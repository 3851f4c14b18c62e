"""The built wheel carries its migrations and catalog, and migrates a database on its own."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import inspect

from entitlements.db import make_engine
from entitlements.migrate import current_revision, head_revision
from entitlements.models import Base

ROOT = Path(__file__).resolve().parents[2]
# What a build must not see or write into: VCS data, the venv, caches and build leftovers.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.pyc", "build", "dist", "*.egg-info", "instance",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", ".coverage*",
)  # fmt: skip
SECRET = "installed-package-secret-" + "z" * 32

# Put only the unzipped wheel and the dependencies' site-packages on sys.path. `-I -S` keeps
# out PYTHONPATH, the working directory and every .pth file, among them the editable install's
# finder that would map `entitlements` to the checkout.
BOOTSTRAP = """
import importlib.util, json, sys
wheel_dir, dependencies = sys.argv[1], json.loads(sys.argv[2])
sys.path[:0] = [wheel_dir, *dependencies]
spec = importlib.util.find_spec("entitlements")
if spec is None or not (spec.origin or "").startswith(wheel_dir + "/"):
    sys.exit(f"entitlements would come from {spec and spec.origin}, not the wheel")
del sys.argv[1:3]
"""
PROBE = """
import entitlements, entitlements.migrate
print(json.dumps({
    "file": entitlements.__file__,
    "migrations": entitlements.migrate.script_location(),
    "path": sys.path,
    "meta_path": [repr(finder) for finder in sys.meta_path],
}))
"""
# Import every module the wheel ships, but the two that run at import (`__main__` runs the
# CLI, `wsgi` builds the app from the environment) and the migrations (Alembic runs them).
IMPORT_EVERY_MODULE = """
import importlib, importlib.util, pkgutil
import entitlements
found = importlib.util.find_spec("devstripe") is not None
skip = ("entitlements.__main__", "entitlements.wsgi", "entitlements.migrations")
names = [
    module.name
    for module in pkgutil.walk_packages(entitlements.__path__, "entitlements.")
    if not module.name.startswith(skip)
]
for name in names:
    importlib.import_module(name)
print(json.dumps({
    "emulator_found": found,
    "imported": names,
    "emulator_loaded": [name for name in sys.modules if name.partition(".")[0] == "devstripe"],
}))
"""
RUN_CLI = """
sys.argv[0] = "entitlements"
from entitlements.cli import main
main()
"""


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def source_files(folder: Path) -> list[Path]:
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Build a wheel of the working tree, from a copy so the checkout gets no build files.

    Returns the wheel and what the build printed on stderr.
    """
    work = tmp_path_factory.mktemp("wheel-build")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    out = work / "dist"
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
            "--no-index", "--quiet", "--wheel-dir", str(out), str(source),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, (
        "building the wheel offline failed; the build backend of pyproject's [build-system] "
        f"must be installed in this environment:\n{result.stdout}\n{result.stderr}"
    )
    [built] = out.glob("entitlements-*.whl")
    return built, result.stderr


@pytest.fixture(scope="module")
def wheel(build: tuple[Path, str]) -> Path:
    """The wheel of the working tree."""
    return build[0]


@pytest.fixture(scope="module")
def unzipped(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel's contents, as an installer would lay them out in site-packages."""
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def run_from_wheel(
    unzipped: Path, program: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `program` in a fresh interpreter that sees the wheel and the dependencies only."""
    paths = sysconfig.get_paths()
    dependencies = list(dict.fromkeys([paths["purelib"], paths["platlib"]]))
    return subprocess.run(
        [
            sys.executable, "-I", "-S", "-c", BOOTSTRAP + program,
            str(unzipped), json.dumps(dependencies), *args,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip


def test_wheel_ships_the_migrations_and_the_catalog(wheel: Path) -> None:
    names = wheel_names(wheel)
    assert "entitlements/catalog.toml" in names
    assert "entitlements/migrations/__init__.py" in names
    assert "entitlements/migrations/env.py" in names
    assert "entitlements/migrations/script.py.mako" in names
    versions = sorted((ROOT / "migrations" / "versions").glob("*.py"))
    assert versions
    for version in versions:
        assert f"entitlements/migrations/versions/{version.name}" in names


def test_wheel_builds_without_packaging_warnings(build: tuple[Path, str]) -> None:
    # `pip install -e .` runs the same build steps: its output must stay clean too.
    assert "Warning" not in build[1], build[1]


def test_wheel_declares_the_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        [entry_points] = [
            n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")
        ]
        text = archive.read(entry_points).decode()
    assert "[console_scripts]" in text
    assert "entitlements = entitlements.cli:main" in text


def test_wheel_ships_every_file_of_the_package(wheel: Path) -> None:
    names = wheel_names(wheel)
    package = ROOT / "entitlements"
    missing = [
        str(p.relative_to(ROOT))
        for p in source_files(package)
        if str(p.relative_to(ROOT)) not in names
    ]
    assert missing == []


def test_wheel_contains_no_tests_or_checkout_only_files(wheel: Path) -> None:
    top_level = {name.split("/")[0] for name in wheel_names(wheel)}
    dist_info = {name for name in top_level if name.endswith(".dist-info")}
    assert len(dist_info) == 1
    assert dist_info.pop().startswith("entitlements-")
    assert top_level - {name for name in top_level if name.endswith(".dist-info")} == {
        "entitlements"
    }


def test_wheel_contains_no_emulator(wheel: Path) -> None:
    # The offline Stripe emulator accepts any key: it is its own distribution (devstripe/).
    assert [name for name in wheel_names(wheel) if "devstripe" in name] == []


def test_every_module_of_the_wheel_imports_without_the_emulator(
    unzipped: Path, tmp_path: Path
) -> None:
    # scripts/check_structure.py keeps `import devstripe` inside the demo command; this proves
    # it on the installed package, in an interpreter where the emulator cannot be found.
    result = run_from_wheel(unzipped, IMPORT_EVERY_MODULE, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert probe["emulator_found"] is False
    assert "entitlements.cli.demo" in probe["imported"]
    assert len(probe["imported"]) > 50
    assert probe["emulator_loaded"] == []


def test_demo_run_from_the_wheel_says_how_to_install_the_emulator(
    unzipped: Path, tmp_path: Path
) -> None:
    env = {"ENTITLEMENTS_INSTANCE_PATH": str(tmp_path / "instance"), "PYTHONPATH": str(unzipped)}
    result = run_from_wheel(
        unzipped, RUN_CLI, "demo", "run", "--port", "1", "--stripe-port", "2", cwd=tmp_path, env=env
    )
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: the offline Stripe emulator is not installed"), line
    assert list(tmp_path.iterdir()) == []


def test_the_interpreter_under_test_imports_the_wheel_not_the_checkout(
    unzipped: Path, tmp_path: Path
) -> None:
    result = run_from_wheel(unzipped, PROBE, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert Path(probe["file"]).is_relative_to(unzipped)
    assert Path(probe["migrations"]).is_relative_to(unzipped)
    assert Path(probe["migrations"]) == unzipped / "entitlements" / "migrations"
    assert str(ROOT) not in probe["path"]
    assert "" not in probe["path"]
    assert not any("editable" in finder.lower() for finder in probe["meta_path"])


def test_installed_package_migrates_a_database_outside_the_checkout(
    unzipped: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'installed.db'}"
    env = {
        "ENTITLEMENTS_DATABASE_URL": url,
        "ENTITLEMENTS_SECRET_KEY": SECRET,
        "ENTITLEMENTS_INSTANCE_PATH": str(tmp_path / "instance"),
        "ENTITLEMENTS_ENV": "test",
        "PYTHONPATH": str(unzipped),
    }
    assert not tmp_path.is_relative_to(ROOT)

    result = run_from_wheel(unzipped, RUN_CLI, "db", "upgrade", cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "database at head"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    # The wheel carried every revision: the database is at the checkout's head.
    assert current_revision(url) == head_revision(url)
