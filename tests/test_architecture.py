"""The shape of the code, read from its syntax trees (nothing is imported or run).

- no import cycle between the modules of ``src/faceaudit`` (imports inside functions count;
  ``if TYPE_CHECKING:`` blocks do not);
- no ``_private`` name imported from another module, and no private module of another
  subpackage imported (a subpackage is used through its ``__init__``; the top-level private
  modules such as ``_summary`` are the shared foundation, open to every package);
- no function longer than :data:`MAX_FUNCTION_LINES` and no module longer than
  :data:`MAX_MODULE_LINES` (docstrings and decorators included); the longest functions and
  modules are printed (``pytest -s``), so growth is seen before it is a failure.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "faceaudit"
MAX_FUNCTION_LINES = 100
MAX_MODULE_LINES = 600

Import = tuple[str, "str | None", int]
"""(module imported, name imported from it or None, line)."""


def _module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(current: str, is_package: bool, level: int, target: str | None) -> str:
    """Absolute module name of a (possibly relative) import in module ``current``."""
    if level == 0:
        return target or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(name: str, source: str, is_package: bool, modules: Iterable[str]) -> list[Import]:
    """Every import of the package's modules in ``source`` (the module ``name``)."""
    modules = set(modules)
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    out: list[Import] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(name, is_package, node.level, node.module)
            for a in node.names:
                sub = f"{mod}.{a.name}"
                # `from . import _format` imports the submodule itself
                out.append((sub, None, node.lineno) if sub in modules
                           else (mod, a.name, node.lineno))
    return [(m, n, line) for m, n, line in out if m == PACKAGE or m.startswith(PACKAGE + ".")]


def find_cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Cycles of a directed graph (one per back edge found by a depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                cycles.append([*stack[stack.index(t):], t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    return cycles


def _subpackage(name: str, packages: set[str]) -> str:
    """``faceaudit.metrics`` for ``faceaudit.metrics._rates``; ``faceaudit`` for top level."""
    parts = name.split(".")
    first = ".".join(parts[:2])
    return first if len(parts) >= 2 and first in packages else PACKAGE


def private_imports(graph: Mapping[str, list[Import]], packages: set[str]) -> list[str]:
    """Imports of a ``_private`` name from another module, or of another subpackage's private
    module (``faceaudit.report._html`` from ``faceaudit.audit``)."""
    bad = []
    for m, imports in graph.items():
        for target, name, line in imports:
            if target == m:
                continue
            if name is not None and name.startswith("_") and not name.startswith("__"):
                bad.append(f"{m}:{line}: imports {name} from {target}")
            last = target.rsplit(".", 1)[-1]
            home = _subpackage(target, packages)
            if home not in (PACKAGE, _subpackage(m, packages)) and last.startswith("_") \
                    and target not in packages:
                bad.append(f"{m}:{line}: reaches into {target} (use {home}'s public names)")
    return bad


MODULES = {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}
PACKAGES = {n for n, p in MODULES.items() if p.name == "__init__.py"}
GRAPH = {n: imports_of(n, p.read_text(), n in PACKAGES, MODULES) for n, p in MODULES.items()}


def _functions() -> list[tuple[int, str]]:
    out = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                out.append((node.end_lineno - start + 1, f"{name}.{node.name}"))  # type: ignore[operator]
    return sorted(out, reverse=True)


# ---------------------------------------------------------------------------- the rules
def test_no_import_cycles() -> None:
    edges = {m: {t for t, _, _ in GRAPH[m] if t in MODULES and t != m} for m in MODULES}
    cycles = find_cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_names_across_modules() -> None:
    bad = private_imports(GRAPH, PACKAGES)
    assert not bad, "\n".join(bad)


def test_functions_and_modules_stay_short() -> None:
    functions = _functions()
    print("\nlongest functions (lines):")
    for n, where in functions[:12]:
        print(f"  {n:4d}  {where}")
    sizes = sorted(((len(p.read_text().splitlines()), n) for n, p in MODULES.items()),
                   reverse=True)
    print("largest modules (lines):")
    for n, where in sizes[:8]:
        print(f"  {n:4d}  {where}")
    long_functions = [f"{w} ({n} lines)" for n, w in functions if n > MAX_FUNCTION_LINES]
    long_modules = [f"{w} ({n} lines)" for n, w in sizes if n > MAX_MODULE_LINES]
    assert not long_functions, f"functions over {MAX_FUNCTION_LINES} lines: {long_functions}"
    assert not long_modules, f"modules over {MAX_MODULE_LINES} lines: {long_modules}"


def test_the_audit_layout_exists() -> None:
    for module in ("faceaudit.audit", "faceaudit.audit._run", "faceaudit.audit._stages",
                   "faceaudit.audit._config", "faceaudit.audit._cache",
                   "faceaudit.audit._provenance", "faceaudit.report._schema"):
        assert module in MODULES, module
    assert "faceaudit._audit" not in MODULES  # the god module is gone


# ---------------------------------------------------------------------------- the checks fail
def test_a_cycle_is_found() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_function_level_imports_count_and_type_checking_ones_do_not() -> None:
    mods = {"faceaudit.x", "faceaudit.y", "faceaudit.report", "faceaudit.report._html"}
    src = ("from typing import TYPE_CHECKING\n"
           "if TYPE_CHECKING:\n    from .y import Z\n"
           "def f():\n    from .report._html import render\n    from .y import _hidden\n")
    got = imports_of("faceaudit.x", src, False, mods)
    assert got == [("faceaudit.report._html", "render", 5), ("faceaudit.y", "_hidden", 6)]
    graph = {"faceaudit.x": got}
    bad = private_imports(graph, {"faceaudit.report"})
    assert bad == [
        "faceaudit.x:5: reaches into faceaudit.report._html (use faceaudit.report's public names)",
        "faceaudit.x:6: imports _hidden from faceaudit.y",
    ]
    # a submodule imported by name is a module, not a private name; dunders are fine
    ok = imports_of("faceaudit.report._html", "from . import _plots\nfrom .. import __version__\n",
                    False, mods | {"faceaudit.report._plots"})
    assert private_imports({"faceaudit.report._html": ok}, {"faceaudit.report"}) == []


def test_relative_imports_resolve() -> None:
    assert _resolve("faceaudit.report._html", False, 2, "_io") == "faceaudit._io"
    assert _resolve("faceaudit.metrics", True, 1, "_rates") == "faceaudit.metrics._rates"
    assert _subpackage("faceaudit.metrics._rates", {"faceaudit.metrics"}) == "faceaudit.metrics"
    assert _subpackage("faceaudit._summary", {"faceaudit.metrics"}) == PACKAGE
