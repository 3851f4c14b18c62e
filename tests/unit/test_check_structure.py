"""scripts/check_structure.py: it finds cycles, ignores late imports, and fails on news."""

from __future__ import annotations

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


def test_cycles_are_found_and_chains_are_not(check: ModuleType) -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert check.cycles(edges) == [["a", "b", "c"]]
    assert check.cycles({"a": {"b"}, "b": set()}) == []


def test_imports_in_functions_and_under_type_checking_do_not_count(
    check: ModuleType, tmp_path: Path
) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import near\n"
        "from ..far import thing\n"
        "if TYPE_CHECKING:\n    from . import typed\n"
        "def late():\n    from . import lazy\n"
    )
    found = set(check.top_level_imports(source, "entitlements.pkg.m"))
    assert "entitlements.pkg.near" in found
    assert "entitlements.far" in found
    assert "entitlements.far.thing" in found
    assert not {"entitlements.pkg.typed", "entitlements.pkg.lazy"} & found


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
