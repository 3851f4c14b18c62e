"""Check the package's structure (issue 10): import cycles, layering, registration, module size.

Every rule is checked on every run. What the renovation has not fixed yet is listed in KNOWN;
a violation not listed fails, and so does a listed one that is gone (remove it from KNOWN: the
list only shrinks). Cycles count what runs when a module is imported (not imports inside
functions); the app and surface rules count imports in functions too. Imports under
`if TYPE_CHECKING:` never run: only the Flask and emulator rules, about what a module may name
at all, count them.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "entitlements"
# The benchmarks' modules keep to the same size, so no script regrows into a monolith.
BENCH = "bench"
MAX_LINES = 400
# Modules that may import entitlements.app: the entry points, and every module of the CLI.
ENTRY_POINTS = {"entitlements.wsgi", "entitlements.server", "entitlements.__main__"}
ENTRY_PACKAGES = ("entitlements.cli",)
SURFACES = ("entitlements.api", "entitlements.admin", "entitlements.web")
NO_FLASK = ("entitlements.errors", "entitlements.services", "entitlements.access")
FLASK = ("flask", "werkzeug")
# The offline Stripe emulator is its own distribution, never in the wheel. Only `demo run`
# starts it, importing it inside the command, so the product imports and runs without it.
EMULATOR = "devstripe"
EMULATOR_LAUNCHERS = {"entitlements.cli.demo"}
# Any noqa that lists E402, in any spelling ruff accepts (`noqa:E402`, `NOQA: F401, E402`, ...).
NOQA_E402 = re.compile(r"noqa\s*:[^\n]*\bE402\b", re.IGNORECASE)

# Blocks whose body runs as part of the module's own code (an import in them is module level).
BLOCKS = (ast.If, ast.Try, ast.TryStar, ast.With)

# What is still to do, one line each. Remove a line when its cause is fixed; never add one.
KNOWN: set[str] = set()


@dataclass(frozen=True)
class Import:
    """One import statement: the modules it may load, and when it runs."""

    modules: tuple[str, ...]  # absolute names, the parent packages it runs included
    line: int
    in_function: bool  # runs when the function is called, not when the module is imported
    type_only: bool  # under `if TYPE_CHECKING:`: never runs


@dataclass(frozen=True)
class Module:
    """One module of the package, parsed."""

    name: str
    path: Path
    imports: tuple[Import, ...]

    def loads(self, *, late: bool) -> set[str]:
        """Return the modules it loads when imported, and with `late` when its functions run."""
        return {
            module
            for statement in self.imports
            if not statement.type_only and (late or not statement.in_function)
            for module in statement.modules
        }


def is_entry_point(name: str) -> bool:
    """Return whether module `name` is an entry point, and so may import entitlements.app."""
    return name in ENTRY_POINTS or any(within(name, package) for package in ENTRY_PACKAGES)


def within(name: str, package: str) -> bool:
    """Return whether module `name` is `package` or one of its submodules."""
    return name == package or name.startswith(package + ".")


def module_name(path: Path, root: Path) -> str:
    """Return the dotted name of a module file below `root`."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def with_parents(name: str) -> tuple[str, ...]:
    """Return `name` and its parent packages: importing `a.b.c` runs `a` and `a.b` first."""
    parts = name.split(".")
    return tuple(".".join(parts[:end]) for end in range(1, len(parts) + 1))


def is_type_checking(test: ast.expr) -> bool:
    """Return whether an `if` tests `TYPE_CHECKING` (or `typing.TYPE_CHECKING`)."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.Module, name: str, is_package: bool) -> Iterator[Import]:
    """Yield every import statement of a module, wherever it is, with when it runs."""
    package = name if is_package else name.rpartition(".")[0]

    def resolve(node: ast.Import | ast.ImportFrom) -> tuple[str, ...]:
        if isinstance(node, ast.Import):
            return tuple(m for alias in node.names for m in with_parents(alias.name))
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        # `from . import x` imports the submodule x when there is one.
        return (*with_parents(base), *(f"{base}.{alias.name}" for alias in node.names))

    def walk(body: Iterable[ast.AST], in_function: bool, type_only: bool) -> Iterator[Import]:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                yield Import(resolve(node), node.lineno, in_function, type_only)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from walk(node.body, True, type_only)
            elif isinstance(node, ast.If) and is_type_checking(node.test):
                yield from walk(node.body, in_function, True)
                yield from walk(node.orelse, in_function, type_only)
            elif (
                isinstance(node, ast.If)
                and isinstance(node.test, ast.UnaryOp)
                and isinstance(node.test.op, ast.Not)
                and is_type_checking(node.test.operand)
            ):
                yield from walk(node.body, in_function, type_only)
                yield from walk(node.orelse, in_function, True)
            else:
                # Every other block runs: if/else, try/except/else/finally, with, for, while,
                # match and class bodies (a class body runs when the module is imported).
                yield from walk(ast.iter_child_nodes(node), in_function, type_only)

    yield from walk(tree.body, False, False)


def top_level_imports(path: Path, name: str) -> Iterator[str]:
    """Yield the modules `path` loads when it is imported (not in functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), str(path))
    for statement in imports(tree, name, path.name == "__init__.py"):
        if not statement.in_function and not statement.type_only:
            yield from statement.modules


def parse(root: Path) -> dict[str, Module]:
    """Return every module of the package below `root`, by name."""
    found: dict[str, Module] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        name = module_name(path, root)
        tree = ast.parse(path.read_text(), str(path))
        statements = tuple(imports(tree, name, path.name == "__init__.py"))
        found[name] = Module(name, path, statements)
    return found


def graph(modules: dict[str, Module], *, late: bool) -> dict[str, set[str]]:
    """Return each module and the package modules it loads (with `late`, in functions too).

    A module's own parent packages are left out: they are imported before it runs (or are
    importing it), so naming them runs nothing. Another package's `__init__` is in.
    """
    return {
        name: {
            m
            for m in module.loads(late=late)
            if m in modules and m != name and not name.startswith(m + ".")
        }
        for name, module in modules.items()
    }


def parents(name: str, modules: dict[str, Module]) -> set[str]:
    """Return the parent packages of module `name`, which a fresh import of it runs first."""
    return {m for m in with_parents(name)[:-1] if m in modules}


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


def is_flask(name: str) -> bool:
    """Return whether module `name` is Flask, werkzeug or a Flask extension."""
    top = name.partition(".")[0]
    return top in FLASK or top.startswith("flask_")


def flask_chain(name: str, modules: dict[str, Module], edges: dict[str, set[str]]) -> str | None:
    """Return how module `name` loads Flask (`a -> b -> flask`), or None when it does not.

    The module's own imports count wherever they are (a call would run them); through the
    modules it loads, only what runs when they are imported.
    """
    start = modules[name]
    direct = [m for statement in start.imports for m in statement.modules if is_flask(m)]
    if direct:
        return f"{name} -> {direct[0]}"
    first = {m for m in start.loads(late=True) if m in modules and m != name}
    came_from: dict[str, str] = dict.fromkeys(first | parents(name, modules), name)
    queue = deque(sorted(came_from))
    while queue:
        current = queue.popleft()
        flask = sorted(m for m in modules[current].loads(late=False) if is_flask(m))
        if flask:
            chain = [flask[0], current]
            while chain[-1] != name:
                chain.append(came_from[chain[-1]])
            return " -> ".join(reversed(chain))
        loaded = edges[current] | parents(current, modules)
        for target in sorted(loaded - came_from.keys() - {name}):
            came_from[target] = current
            queue.append(target)
    return None


def statements_in(block: ast.stmt) -> Iterator[ast.stmt]:
    """Yield the statements one level inside a block, its `except` clauses included."""
    for child in ast.iter_child_nodes(block):
        if isinstance(child, ast.stmt):
            yield child
        elif isinstance(child, ast.ExceptHandler):
            yield from child.body


def late_imports(tree: ast.Module) -> Iterator[int]:
    """Yield the lines of module-level imports that come after module code (what E402 finds).

    Before an import may come the docstring, other imports, `if TYPE_CHECKING:` blocks, dunder
    assignments (`__all__`) and if/try/with blocks that hold only those.
    """

    def is_prelude(node: ast.stmt) -> bool:
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Pass):
            return True
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            return all(
                isinstance(t, ast.Name) and t.id.startswith("__") and t.id.endswith("__")
                for t in targets
            )
        if isinstance(node, ast.If) and is_type_checking(node.test):
            return all(is_prelude(child) for child in node.orelse)
        if isinstance(node, BLOCKS):
            return all(is_prelude(child) for child in statements_in(node))
        return False

    def nested(node: ast.stmt) -> Iterator[int]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node.lineno
        elif isinstance(node, ast.If) and is_type_checking(node.test):
            pass  # type-only imports never run, so they cannot run late
        elif isinstance(node, BLOCKS):
            for child in statements_in(node):
                yield from nested(child)

    body = tree.body
    if ast.get_docstring(tree, clean=False) is not None:
        body = body[1:]
    code_seen = False
    for node in body:
        if code_seen:
            yield from nested(node)
        elif not is_prelude(node):
            code_seen = True


def emulator_imports(module: Module) -> Iterator[int]:
    """Yield the lines where a module imports the emulator where it must not."""
    for statement in module.imports:
        if not any(m.partition(".")[0] == EMULATOR for m in statement.modules):
            continue
        # The demo may start it from inside the command: the wheel imports and runs without it.
        lazy = statement.in_function and not statement.type_only
        if not (lazy and module.name in EMULATOR_LAUNCHERS):
            yield statement.line


def violations(root: Path = ROOT) -> set[str]:
    """Return every rule broken in the checkout at `root` today, one line each."""
    modules = parse(root)
    runtime = graph(modules, late=False)
    found = {"cycle: " + ", ".join(component) for component in cycles(runtime)}
    # Importing app or another surface is wrong wherever it happens, in a function too.
    for name, targets in sorted(graph(modules, late=True).items()):
        if "entitlements.app" in targets and not is_entry_point(name):
            found.add(f"app import: {name} imports entitlements.app")
        surface = next((s for s in SURFACES if within(name, s)), None)
        for target in targets:
            other = next((s for s in SURFACES if within(target, s)), None)
            if surface and other and other != surface:
                found.add(f"cross-surface: {name} imports {target}")
    for name, module in modules.items():
        relative = module.path.relative_to(root).as_posix()
        if any(within(name, layer) for layer in NO_FLASK):
            chain = flask_chain(name, modules, runtime)
            if chain:
                found.add(f"flask: {name} loads Flask or werkzeug ({chain})")
        found.update(
            f"emulator: {relative}:{line} imports {EMULATOR}" for line in emulator_imports(module)
        )
    if (root / PACKAGE / EMULATOR).exists():
        found.add(f"emulator: {PACKAGE}/{EMULATOR} is in the package, so in the wheel")
    # Size and import order hold for the benchmarks too.
    for path in sorted([*(root / PACKAGE).rglob("*.py"), *(root / BENCH).rglob("*.py")]):
        relative, text = path.relative_to(root).as_posix(), path.read_text()
        if text.count("\n") > MAX_LINES:
            found.add(f"size: {relative}")
        if NOQA_E402.search(text):
            found.add(f"E402: {relative} has a noqa for E402")
        found.update(
            f"E402: {relative}:{line} imports below module code"
            for line in late_imports(ast.parse(text, str(path)))
        )
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
