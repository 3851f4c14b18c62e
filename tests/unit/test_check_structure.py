"""scripts/check_structure.py: each rule fires on a small broken package, and the tree has none."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_structure.py"


@pytest.fixture(scope="module")
def check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_structure", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_structure"] = module
    spec.loader.exec_module(module)
    return module


def checkout(root: Path, files: dict[str, str]) -> Path:
    """Write a small checkout under `root`: a clean `entitlements` package plus `files`."""
    for relative, text in {"entitlements/__init__.py": '"""Pkg."""\n', **files}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def found_in(check: ModuleType, root: Path, files: dict[str, str]) -> set[str]:
    """Return the violations of a small checkout made of `files`."""
    found: set[str] = check.violations(checkout(root, files))
    return found


def test_the_tree_today_breaks_no_rule(check: ModuleType) -> None:
    assert check.violations() == set()


def test_a_small_clean_package_breaks_no_rule(check: ModuleType, tmp_path: Path) -> None:
    files = {
        "entitlements/errors.py": '"""E."""\n',
        "entitlements/services/__init__.py": "",
        "entitlements/services/grants.py": "from ..errors import x\nfrom . import other\n",
        "entitlements/services/other.py": "",
        "entitlements/api/__init__.py": "from . import views\n",
        "entitlements/api/views.py": "from .. import services\nfrom ..services import grants\n",
        "bench/run.py": "import sys\n",
    }
    assert found_in(check, tmp_path, files) == set()


def test_cycles_are_found_and_chains_are_not(check: ModuleType) -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert check.cycles(edges) == [["a", "b", "c"]]
    assert check.cycles({"a": {"b"}, "b": set()}) == []


def test_importing_a_submodule_runs_its_packages_so_they_close_a_cycle(
    check: ModuleType, tmp_path: Path
) -> None:
    files = {
        "entitlements/a/__init__.py": "from ..b.leaf import x\n",
        "entitlements/b/__init__.py": "from ..a import y\n",
        "entitlements/b/leaf.py": "x = 1\n",
    }
    assert found_in(check, tmp_path, files) == {"cycle: entitlements.a, entitlements.b"}


def test_a_module_naming_its_own_package_is_no_cycle(check: ModuleType, tmp_path: Path) -> None:
    # The package is importing it already: naming it runs nothing.
    files = {
        "entitlements/p/__init__.py": "from .m import x\nfrom .n import z\n",
        "entitlements/p/m.py": "from . import n\nfrom .n import z\nx = z\n",
        "entitlements/p/n.py": "from .. import p\nz = 1\n",
    }
    assert found_in(check, tmp_path, files) == set()


def test_imports_in_functions_and_under_type_checking_do_not_run_at_import(
    check: ModuleType, tmp_path: Path
) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import near\n"
        "from ..far import thing\n"
        "if TYPE_CHECKING:\n    from . import typed\n"
        "def late():\n    from . import lazy\n"
        "class Late:\n    def method(self):\n        from . import in_method\n"
    )
    found = set(check.top_level_imports(source, "entitlements.pkg.m"))
    assert "entitlements.pkg.near" in found
    assert "entitlements.far" in found
    assert "entitlements.far.thing" in found
    assert not {"entitlements.pkg.typed", "entitlements.pkg.lazy"} & found
    assert "entitlements.pkg.in_method" not in found


def test_every_block_that_runs_at_import_counts(check: ModuleType, tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import typing\n"
        "if typing.TYPE_CHECKING:\n    pass\nelse:\n    from . import type_checking_else\n"
        "if not TYPE_CHECKING:\n    from . import not_type_checking\n"
        "try:\n    from . import in_try\nexcept ImportError:\n    from . import in_except\n"
        "else:\n    from . import try_else\nfinally:\n    from . import in_finally\n"
        "with context():\n    from . import in_with\n"
        "for _ in ():\n    from . import in_for\n"
        "class Model:\n    from . import in_class\n"
    )
    found = set(check.top_level_imports(source, "entitlements.pkg.m"))
    for name in (
        "type_checking_else", "not_type_checking", "in_try", "in_except", "try_else",
        "in_finally", "in_with", "in_for", "in_class",
    ):  # fmt: skip
        assert f"entitlements.pkg.{name}" in found


@pytest.mark.parametrize(
    "line",
    [
        "import os  # noqa: E402",
        "import os  # noqa:E402",
        "import os  # noqa: F401, E402",
        "import os  # NOQA: E402",
        "# ruff: noqa: E402",
    ],
)
def test_any_noqa_for_e402_fires(check: ModuleType, tmp_path: Path, line: str) -> None:
    found = found_in(check, tmp_path, {"entitlements/m.py": f"{line}\n"})
    assert found == {"E402: entitlements/m.py has a noqa for E402"}


def test_a_noqa_for_other_codes_is_no_e402(check: ModuleType, tmp_path: Path) -> None:
    assert found_in(check, tmp_path, {"entitlements/m.py": "import os  # noqa: F401\n"}) == set()


@pytest.mark.parametrize(
    "source",
    [
        "x = 1\nimport os\n",
        "def f() -> None: ...\nfrom . import late\n",
        "x = 1\ntry:\n    import os\nexcept ImportError:\n    pass\n",
        "x = 1\nif x:\n    pass\nelse:\n    import os\n",
        "x = 1\nwith open('f'):\n    import os\n",
        "try:\n    import os\nexcept ImportError:\n    os = None\nimport sys\n",
        "import os\nos.environ['A'] = 'b'\nimport sys\n",
    ],
)
def test_an_import_below_module_code_fires(check: ModuleType, tmp_path: Path, source: str) -> None:
    found = found_in(check, tmp_path, {"entitlements/m.py": source, "bench/b.py": source})
    assert {line.split(":")[1].strip() for line in found} == {"entitlements/m.py", "bench/b.py"}
    assert all(line.endswith("imports below module code") for line in found)


@pytest.mark.parametrize(
    "source",
    [
        '"""Doc."""\n\nfrom __future__ import annotations\n\nimport os\nfrom . import a\n',
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    X = int\nimport os\n",
        "if TYPE_CHECKING:\n    pass\nelse:\n    import sys\nimport os\n",
        "__all__ = ['a']\nimport os\n",
        "try:\n    import tomllib\nexcept ImportError:\n    import tomli\nimport os\n",
        "import os\nx = 1\nif x:\n    def f() -> None:\n        import sys\n",
        "import os\nif TYPE_CHECKING:\n    import sys\n",
    ],
)
def test_imports_at_the_top_are_no_e402(check: ModuleType, source: str) -> None:
    assert list(check.late_imports(ast.parse(source))) == []


def test_services_that_load_flask_through_another_module_fire(
    check: ModuleType, tmp_path: Path
) -> None:
    files = {
        "entitlements/db/__init__.py": "from flask import g\n",
        "entitlements/db/session.py": "x = 1\n",
        "entitlements/services/__init__.py": "",
        # Through the package: importing entitlements.db runs its __init__.
        "entitlements/services/a.py": "from .. import db\n",
        # Through a submodule: importing entitlements.db.session runs entitlements/db first.
        "entitlements/services/b.py": "from ..db.session import x\n",
        # Through a chain, and from inside a function: a call would load Flask.
        "entitlements/services/c.py": "def f() -> None:\n    from . import b\n",
        "entitlements/errors.py": "from werkzeug.exceptions import HTTPException\n",
        "entitlements/access.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import flask\n",
    }
    assert found_in(check, tmp_path, files) == {
        "flask: entitlements.services.a loads Flask or werkzeug"
        " (entitlements.services.a -> entitlements.db -> flask)",
        "flask: entitlements.services.b loads Flask or werkzeug"
        " (entitlements.services.b -> entitlements.db -> flask)",
        "flask: entitlements.services.c loads Flask or werkzeug"
        " (entitlements.services.c -> entitlements.services.b -> entitlements.db -> flask)",
        "flask: entitlements.errors loads Flask or werkzeug (entitlements.errors -> werkzeug)",
        "flask: entitlements.access loads Flask or werkzeug (entitlements.access -> flask)",
    }


def test_a_service_using_a_module_that_loads_flask_only_when_called_passes(
    check: ModuleType, tmp_path: Path
) -> None:
    files = {
        "entitlements/clock.py": "def now() -> None:\n    from flask import g\n",
        "entitlements/services/__init__.py": "",
        "entitlements/services/a.py": "from ..clock import now\n",
    }
    assert found_in(check, tmp_path, files) == set()


@pytest.mark.parametrize(
    "body",
    [
        "from .. import app\n",
        "def view() -> None:\n    from ..app import create_app\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\n"
        "else:\n    from .. import app\n",
    ],
)
def test_importing_app_outside_the_entry_points_fires_wherever_it_runs(
    check: ModuleType, tmp_path: Path, body: str
) -> None:
    files = {
        "entitlements/app.py": "",
        "entitlements/api/__init__.py": "",
        "entitlements/api/views.py": body,
        "entitlements/cli/__init__.py": "def main() -> None:\n    from ..app import create_app\n",
        "entitlements/wsgi.py": "from .app import create_app\n",
    }
    assert found_in(check, tmp_path, files) == {
        "app import: entitlements.api.views imports entitlements.app"
    }


def test_app_imported_for_types_only_passes(check: ModuleType, tmp_path: Path) -> None:
    files = {
        "entitlements/app.py": "",
        "entitlements/runtime.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .app import create_app\n",
    }
    assert found_in(check, tmp_path, files) == set()


def test_a_surface_importing_another_fires_in_a_function_too(
    check: ModuleType, tmp_path: Path
) -> None:
    files = {
        "entitlements/api/__init__.py": "",
        "entitlements/api/views.py": "def f() -> None:\n    from ..web import views\n",
        "entitlements/web/__init__.py": "",
        "entitlements/web/views.py": "",
        "entitlements/admin/__init__.py": "",
        "entitlements/admin/views.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..api import views\n",
    }
    assert found_in(check, tmp_path, files) == {
        "cross-surface: entitlements.api.views imports entitlements.web",
        "cross-surface: entitlements.api.views imports entitlements.web.views",
    }


def test_the_emulator_may_only_be_started_from_inside_the_demo_command(
    check: ModuleType, tmp_path: Path
) -> None:
    files = {
        "entitlements/cli/__init__.py": "",
        # Allowed: `demo run` imports it when it starts it.
        "entitlements/cli/demo.py": "def run() -> None:\n    from devstripe import Server\n",
        "entitlements/billing.py": "def f() -> None:\n    import devstripe.persist\n",
        "entitlements/web.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from devstripe import Server\n",
        "entitlements/devstripe/__init__.py": "",
    }
    assert found_in(check, tmp_path, files) == {
        "emulator: entitlements/billing.py:2 imports devstripe",
        "emulator: entitlements/web.py:3 imports devstripe",
        "emulator: entitlements/devstripe is in the package, so in the wheel",
    }


def test_the_demo_importing_the_emulator_at_module_level_fires(
    check: ModuleType, tmp_path: Path
) -> None:
    files = {"entitlements/cli/__init__.py": "", "entitlements/cli/demo.py": "import devstripe\n"}
    assert found_in(check, tmp_path, files) == {
        "emulator: entitlements/cli/demo.py:1 imports devstripe"
    }


def test_modules_over_the_size_limit_fire(check: ModuleType, tmp_path: Path) -> None:
    long = "x = 1\n" * (check.MAX_LINES + 1)
    files = {"entitlements/big.py": long, "bench/big.py": long, "bench/small.py": "x = 1\n"}
    assert found_in(check, tmp_path, files) == {"size: entitlements/big.py", "size: bench/big.py"}


def test_a_violation_not_listed_fails_and_so_does_a_fixed_one_still_listed(
    check: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check.main() == 0  # the tree as it is: every violation listed, none stale
    known = set(check.KNOWN)
    # A lower size limit makes violations that KNOWN cannot list (it shrinks to nothing).
    monkeypatch.setattr(check, "MAX_LINES", 10)
    assert check.main() == 1
    assert "new: size: entitlements/app.py" in capsys.readouterr().out
    monkeypatch.undo()
    monkeypatch.setattr(check, "KNOWN", known | {"size: entitlements/gone.py"})
    assert check.main() == 1
    assert "fixed, remove it" in capsys.readouterr().out
