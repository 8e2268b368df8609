"""The package's import graph has no cycles, counting imports inside functions too.

Edges are the explicit imports of kdsurvey modules (`import kdsurvey.x`, `from kdsurvey import x`,
`from kdsurvey.x import y`), wherever they are written, except under `if TYPE_CHECKING:` (annotations
only, never run); a package's own `__init__` importing its submodules is an edge like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import kdsurvey

ROOT = Path(kdsurvey.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = ("kdsurvey", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else base)
    return {m for m in found if m in known and m != name}


def _runtime_nodes(tree: ast.AST):
    """Every node, except the bodies of `if TYPE_CHECKING:` (imports for annotations, never executed)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo += node.orelse
            continue
        todo += list(ast.iter_child_nodes(node))


def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, set(modules)) for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    edges = graph()
    assert len(edges) > 40 and "kdsurvey.record" in edges["kdsurvey.reproduced"]
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_analysis_side_never_imports_the_torch_side():
    """Only the CLI reaches into kdsurvey.distill, inside the reproduce and sweep commands."""
    edges = graph()
    analysis = [m for m in edges if not m.startswith("kdsurvey.distill") and m != "kdsurvey.cli"]
    assert not {m: sorted(t for t in edges[m] if t.startswith("kdsurvey.distill")) for m in analysis
                if any(t.startswith("kdsurvey.distill") for t in edges[m])}  # fmt: skip
