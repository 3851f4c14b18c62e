"""Check the package's structure (issue 10): import cycles, layering, registration, module size.

Every rule is checked on every run. What the renovation has not fixed yet is listed in KNOWN;
a violation not listed fails, and so does a listed one that is gone (remove it from KNOWN: the
list only shrinks). Module-level imports count; imports inside functions and under
`if TYPE_CHECKING:` do not (they run late, or never).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "entitlements"
MAX_LINES = 400
# The benchmarks' modules keep to the same size, so no script regrows into a monolith.
BENCH = ROOT / "bench"
# Modules that may import entitlements.app: the entry points, and every module of the CLI.
ENTRY_POINTS = {"entitlements.wsgi", "entitlements.server", "entitlements.__main__"}
ENTRY_PACKAGES = ("entitlements.cli",)
SURFACES = ("entitlements.api", "entitlements.admin", "entitlements.web")
NO_FLASK = ("entitlements.errors", "entitlements.services", "entitlements.access")

# What is still to do, one line each. Remove a line when its cause is fixed; never add one.
KNOWN: set[str] = set()


def is_entry_point(name: str) -> bool:
    """Return whether module `name` is an entry point, and so may import entitlements.app."""
    return name in ENTRY_POINTS or any(
        name == package or name.startswith(package + ".") for package in ENTRY_PACKAGES
    )


def module_name(path: Path) -> str:
    """Return the dotted name of a module file of the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top_level_imports(path: Path, name: str) -> Iterator[str]:
    """Yield the modules `path` imports when it is imported (not in functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _module_level(tree.body):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            # `from . import x` imports the submodule x when there is one.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        if isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if "TYPE_CHECKING" in test:
                continue
            yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _module_level(node.body)
        else:
            yield node


def graph() -> dict[str, set[str]]:
    """Return each module of the package and the package modules it imports."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        edges[name] = {m for m in top_level_imports(path, name) if m in files and m != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def violations() -> set[str]:
    """Return every rule broken today, one line each."""
    edges = graph()
    found = {"cycle: " + ", ".join(component) for component in cycles(edges)}
    for name, targets in sorted(edges.items()):
        if "entitlements.app" in targets and not is_entry_point(name):
            found.add(f"app import: {name} imports entitlements.app")
        surface = next((s for s in SURFACES if name.startswith(s + ".") or name == s), None)
        for target in targets:
            other = next((s for s in SURFACES if target.startswith(s + ".") or target == s), None)
            if surface and other and other != surface:
                found.add(f"cross-surface: {name} imports {target}")
    for path in sorted(PACKAGE.rglob("*.py")):
        name, text = module_name(path), path.read_text()
        relative = path.relative_to(ROOT).as_posix()
        if "noqa: E402" in text:
            found.add(f"E402: {relative}")
        if text.count("\n") > MAX_LINES:
            found.add(f"size: {relative}")
        if any(name == layer or name.startswith(layer + ".") for layer in NO_FLASK):
            tree = ast.parse(text)
            flask = [
                node
                for node in ast.walk(tree)
                if isinstance(node, ast.Import | ast.ImportFrom)
                and any(
                    (getattr(node, "module", None) or alias.name).split(".")[0]
                    in ("flask", "werkzeug")
                    for alias in node.names
                )
            ]
            if flask:
                found.add(f"flask: {name} imports Flask or werkzeug")
    for path in sorted(BENCH.rglob("*.py")):
        if path.read_text().count("\n") > MAX_LINES:
            found.add(f"size: {path.relative_to(ROOT).as_posix()}")
    return found


def main() -> int:
    """Print new violations and fixed ones still listed; exit 1 if there are any."""
    found = violations()
    new, fixed = sorted(found - KNOWN), sorted(KNOWN - found)
    lines = [f"new: {line}" for line in new]
    lines += [f"fixed, remove it from KNOWN in {Path(__file__).name}: {line}" for line in fixed]
    lines.append(f"structure: {len(found)} known to fix, {len(new)} new, {len(fixed)} fixed")
    sys.stdout.write("\n".join(lines) + "\n")
    return 1 if new or fixed else 0


if __name__ == "__main__":
    sys.exit(main())
