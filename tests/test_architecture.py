"""The shape of the code, read from its syntax trees (nothing is imported or run).

- no import cycle between the modules of ``src/faceaudit`` (imports inside functions count;
  ``if TYPE_CHECKING:`` blocks do not);
- no ``_private`` name imported from another module, and no private module of another
  subpackage imported (a subpackage is used through its ``__init__``; the top-level private
  modules such as ``_summary`` are the shared foundation, open to every package);
- no function longer than :data:`MAX_FUNCTION_LINES` and no module longer than
  :data:`MAX_MODULE_LINES` (docstrings included); the longest functions are printed
  (``pytest -s``), so growth is seen before it is a failure.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "faceaudit"
MAX_FUNCTION_LINES = 100
MAX_MODULE_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(current: str, level: int, target: str | None) -> str:
    """Absolute module name of a (possibly relative) import in module ``current``."""
    if level == 0:
        return target or ""
    base = current.split(".") if _is_package(current) else current.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def _imports(name: str) -> list[tuple[str, str | None, int]]:
    """(module imported, name imported from it or None, line) of every import in ``name``."""
    tree = ast.parse(MODULES[name].read_text())
    skip = _type_checking_nodes(tree)
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(name, node.level, node.module)
            for a in node.names:
                sub = f"{mod}.{a.name}"
                if sub in MODULES:  # `from . import _format`: the submodule itself
                    out.append((sub, None, node.lineno))
                else:
                    out.append((mod, a.name, node.lineno))
    return [(m, n, line) for m, n, line in out if m == PACKAGE or m.startswith(PACKAGE + ".")]


GRAPH = {name: _imports(name) for name in MODULES}


def _subpackage(name: str) -> str:
    """``faceaudit.metrics`` for ``faceaudit.metrics._rates``; the package for top level."""
    parts = name.split(".")
    if len(parts) >= 2 and f"{parts[0]}.{parts[1]}" in MODULES and _is_package(
            f"{parts[0]}.{parts[1]}"):
        return f"{parts[0]}.{parts[1]}"
    return PACKAGE


def test_no_import_cycles() -> None:
    edges = {m: sorted({t for t, _, _ in GRAPH[m] if t in MODULES and t != m}) for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in edges[m]:
            if state.get(t) == 1:
                cycles.append([*stack[stack.index(t):], t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in MODULES:
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_names_across_modules() -> None:
    bad = []
    for m, imports in GRAPH.items():
        for target, name, line in imports:
            if target == m:
                continue
            if name is not None and name.startswith("_") and not name.startswith("__"):
                bad.append(f"{MODULES[m]}:{line}: imports {name} from {target}")
            last = target.rsplit(".", 1)[-1]
            other_package = _subpackage(target) not in (PACKAGE, _subpackage(m))
            if other_package and last.startswith("_") and not _is_package(target):
                bad.append(f"{MODULES[m]}:{line}: reaches into {target} (use "
                           f"{_subpackage(target)}'s public names)")
    assert not bad, "\n".join(bad)


def _functions() -> list[tuple[int, str]]:
    out = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                out.append((node.end_lineno - start + 1, f"{name}.{node.name}"))  # type: ignore[operator]
    return sorted(out, reverse=True)


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


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The rules catch what they are meant to catch (on the parser helpers themselves)."""
    assert _resolve("faceaudit.report._html", 2, "_io") == "faceaudit._io"
    assert _resolve("faceaudit.metrics", 1, "_rates") == "faceaudit.metrics._rates"
    assert _subpackage("faceaudit.metrics._rates") == "faceaudit.metrics"
    assert _subpackage("faceaudit._summary") == PACKAGE


@pytest.mark.parametrize("module", ["faceaudit.audit", "faceaudit.report._schema"])
def test_the_layout_of_the_design_exists(module: str) -> None:
    assert module in MODULES
