"""The layer order of the README, enforced over the AST of every module.

``display``, ``widgets``, ``cli``, ``snapshot`` → ``loader`` → ``programs``, ``maps``, ``events`` →
``kernel`` → ``obj`` → ``btf`` → ``asm`` → ``uapi`` → ``errors``.  Module-level imports only go
down (imports under ``if TYPE_CHECKING:`` are annotations, not imports, and are free); the one
upward import allowed is ``bpfnb.display`` inside a view method, so the pure layers load without
pandas or graphviz.  Module-level imports form no cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "bpfnb"

#: Bottom first; a module's layer is that of its top-level package under ``bpfnb``.
LAYERS = [
    {"errors", "_optional", "_files", "_gc"}, {"uapi"}, {"asm"}, {"btf"}, {"obj"}, {"kernel"}, {"programs", "maps", "events"},
    {"loader"}, {"display", "widgets", "cli", "snapshot", "examples", "__init__", "__main__"},
]
#: Methods that render a model; they may import ``bpfnb.display`` lazily.
VIEW_METHODS = {"_repr_html_", "to_html", "to_dataframe", "graph", "call_graph", "type_graph", "summary", "plot",
                "_ipython_display_", "to_text", "diff_html"}
#: Upward imports still to remove: each entry is (module, function, target).  None are left.
KNOWN: set[tuple[str, str, str]] = set()
#: Old public names kept working after a move: a module ``__getattr__`` that warns
#: ``DeprecationWarning`` and imports the new home lazily (listed in the README).
DEPRECATED_ALIASES = {
    ("bpfnb.btf.core", "__getattr__", "bpfnb.obj.core"),
    ("bpfnb.btf.core_portability", "__getattr__", "bpfnb.obj.core"),
}


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, names in enumerate(LAYERS) if top in names)


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path):
    """(target module, enclosing function or None, at module level) for every bpfnb import."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]

    def target(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))

    def walk(node: ast.AST, func: str | None, top: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom):
                yield target(child), func, top
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, func, top
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from walk(child, child.name, False)
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, func, top)
            else:
                yield from walk(child, func, top)

    for name, func, top in walk(ast.parse(path.read_text()), None, True):
        if name == "bpfnb" or name.startswith("bpfnb."):
            yield name, func, top


def _upward():
    for module, path in _modules().items():
        for target, func, top in _imports(module, path):
            if _layer(target) > _layer(module):
                yield module, func or "", target, top


def test_module_level_imports_only_go_down() -> None:
    up = sorted({(m, t) for m, _, t, top in _upward() if top})
    assert up == []


def test_upward_imports_are_views_of_display() -> None:
    found = {(m, f, t) for m, f, t, top in _upward() if not top
             and not (t.startswith("bpfnb.display") and f in VIEW_METHODS)}
    found -= DEPRECATED_ALIASES
    assert found - KNOWN == set(), "new upward imports"
    assert KNOWN - found == set(), "fixed: remove them from KNOWN"


def test_deprecated_aliases_warn() -> None:
    """An upward import is tolerated only as a deprecation shim, which must say so."""
    modules = _modules()
    for module, func, _ in DEPRECATED_ALIASES:
        tree = ast.parse(modules[module].read_text())
        [shim] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func]
        assert "DeprecationWarning" in ast.unparse(shim), module


def test_no_import_cycles_at_module_level() -> None:
    modules = _modules()
    graph = {m: {t for t, _, top in _imports(m, p) if top and t in modules and t != m} for m, p in modules.items()}
    # a package's __init__ importing its own submodules is how packages re-export, not a cycle
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert cycles == []


@pytest.mark.parametrize("module,expected", [("bpfnb.btf.frames", 3), ("bpfnb.kernel.maps", 5), ("bpfnb.cli", 8)])
def test_layers_are_read_from_the_package_name(module, expected) -> None:
    assert _layer(module) == expected
