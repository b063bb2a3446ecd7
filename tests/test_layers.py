"""The layers import only downwards, and no import cycle runs between careflow's modules (issue #15).

Lowest first: ``policy`` → ``models`` → ``core`` → ``notifications`` → ``careflow`` → ``flows`` → ``web`` →
``entry``. Imports inside functions count too (they are still dependencies); imports for type checking only
(``if TYPE_CHECKING:``) do not.
"""
from __future__ import annotations

import ast
from pathlib import Path

from core.paths import PROJECT_ROOT

LAYERS = ["policy", "models", "core", "notifications", "careflow", "flows", "web", "entry"]
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _modules() -> dict[str, Path]:
    modules = {}
    for layer in LAYERS:
        for path in (PROJECT_ROOT / layer).rglob("*.py"):
            name = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def test_no_module_imports_from_a_layer_above_it():
    upward = []
    for name, path in _modules().items():
        for line, imported in _imports(path):
            top = imported.split(".")[0]
            if top in RANK and RANK[top] > RANK[name.split(".")[0]]:
                upward.append(f"{path.relative_to(PROJECT_ROOT)}:{line} imports {imported}")
    assert upward == []


def test_there_is_no_import_cycle():
    modules = _modules()
    graph = {name: {imported for _, imported in _imports(path) if imported in modules and imported != name}
             for name, path in modules.items()}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" → ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert cycles == []


def test_the_walk_sees_every_layer():
    """Guards the two tests above against passing on an empty tree (a moved folder, a wrong root)."""
    modules = _modules()
    assert {name.split(".")[0] for name in modules} == set(LAYERS)
    assert "core.db" in modules and "flows.guardianship" in modules and "entry.cli" in modules


def _function_level_imports(path: Path) -> list[int]:
    """Line numbers of the imports inside functions (``if TYPE_CHECKING:`` blocks excepted)."""
    lines = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in _runtime_children(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and in_function:
                lines.append(child.lineno)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return lines


def _runtime_children(node: ast.AST):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and getattr(child.test, "id", getattr(child.test, "attr", "")) == "TYPE_CHECKING":
            continue
        yield child


def test_an_import_inside_a_function_says_it_is_there_for_start_up_cost():
    """Issue #15: an import inside a function hides a dependency; the only reason left for one is what importing
    it at load would cost a process that never uses it, said in a comment on its line or the line above."""
    unexplained = []
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8").splitlines()
        for line in _function_level_imports(path):
            here = text[line - 1] + (text[line - 2] if line > 1 else "")
            if "start-up" not in here:
                unexplained.append(f"{path.relative_to(PROJECT_ROOT)}:{line}: {text[line - 1].strip()}")
    assert unexplained == []


#: "About 400 lines a module, about 60 a function" (issue #15), with the "about" spelled out.
MODULE_LINES, FUNCTION_LINES = 420, 65


def _sized_modules() -> dict[str, Path]:
    modules = _modules()
    modules.update({".".join(p.relative_to(PROJECT_ROOT).with_suffix("").parts): p
                    for p in (PROJECT_ROOT / "benchmarks").rglob("*.py")})
    return modules


def test_no_module_is_too_big_to_hold_in_your_head():
    big = [f"{path.relative_to(PROJECT_ROOT)}: {lines} lines" for path in _sized_modules().values()
           if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINES]
    assert big == []


def test_no_function_is_too_long_to_read_at_once():
    long = []
    for path in _sized_modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if (lines := node.end_lineno - node.lineno + 1) > FUNCTION_LINES:
                    long.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.name}: {lines} lines")
    assert long == []


def test_every_import_inside_a_function_names_something_that_exists():
    """An import inside a function runs only when its command or page does: a name moved to another module breaks
    it silently until a user hits it (a CLI command imported ``register_child`` from its old module). Every
    ``from careflow... import name`` of careflow's own modules, wherever it stands, must resolve now."""
    import importlib

    missing = []
    for name, path in _modules().items():
        inside = set(_function_level_imports(path))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.lineno not in inside:
                continue
            if node.level or not node.module or node.module.split(".")[0] not in RANK:
                continue
            line = node.lineno
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        missing.append(f"{path.relative_to(PROJECT_ROOT)}:{line} from {node.module} import {alias.name}")
    assert missing == []
