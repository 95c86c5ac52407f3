"""No import circle between files of src/springboard.

Every module is parsed (not imported) and every import counts, module-level or inside a
function, except those under ``if TYPE_CHECKING:`` (they never run). An import hidden in a
function still ties the two files together: moving it there does not break a circle, moving the
shared definition to a lower module does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import springboard

PACKAGE_ROOT = Path(springboard.__file__).resolve().parent
PACKAGE = "springboard"

# Circles that another change owns and has not broken yet. Each entry is the set of modules of
# one strongly connected component; the test fails when a component that is not listed here
# appears, and also when a listed one is gone (so the list shrinks as circles are broken).
KNOWN_CYCLES: list[frozenset[str]] = []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit_node(other)
                continue
            visit_node(child)

    def visit_node(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        visit(node)

    visit(tree)
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    # a package's relative imports start from the package itself, a module's from its parent
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join(base + ([node.module] if node.module else []))


def build_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE_ROOT.rglob("*.py"))
    modules = {_module_name(p): p for p in paths}
    graph: dict[str, set[str]] = {name: set() for name in modules}

    def owner(target: str) -> str | None:
        # the longest known module that the dotted target names (a.b.c -> a.b if c is a name)
        while target:
            if target in modules:
                return target
            target = target.rpartition(".")[0]
        return None

    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve(name, is_package, node)
                # `from pkg import mod` imports the submodule pkg.mod when there is one
                targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
            for target in targets:
                if not (target == PACKAGE or target.startswith(PACKAGE + ".")):
                    continue
                found = owner(target)
                if found and found != name:
                    graph[name].add(found)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; returns components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def _describe(component: list[str], graph: dict[str, set[str]]) -> str:
    members = set(component)
    edges = [f"    {a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return "  " + ", ".join(component) + "\n" + "\n".join(edges)


def test_graph_sees_imports() -> None:
    graph = build_graph()
    assert "springboard.confinement" in graph["springboard.serve.routes"]
    assert "springboard.errors" in graph["springboard.storage"]


def test_no_import_cycles() -> None:
    graph = build_graph()
    components = strongly_connected(graph)
    unexpected = [c for c in components if frozenset(c) not in KNOWN_CYCLES]
    gone = [sorted(k) for k in KNOWN_CYCLES if list(sorted(k)) not in components]
    report = "\n".join(_describe(c, graph) for c in unexpected)
    print("import cycles found:\n" + "\n".join(_describe(c, graph) for c in components))
    assert not unexpected, f"import cycles between files:\n{report}"
    assert not gone, f"known cycles no longer present, drop them from KNOWN_CYCLES: {gone}"
