"""No import cycle among the modules of ``coverage``, ``api`` and ``maps``.

The graph is built from the source with :mod:`ast`, as import-linter or grimp
would see it: every ``import`` statement counts, at module level or inside a
function, and ``from x import y`` imports ``x`` and, when ``y`` is a submodule,
``x.y`` as well. A submodule importing its own package's ``__init__`` while the
``__init__`` imports it is a cycle like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("coverage", "api", "maps")


def _modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Map every module name of the packages to its source file."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of ``from <level dots><name> import ...`` written in ``module``."""
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the packages that ``module`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                targets.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node.level, node.module)
            targets.add(source)
            for alias in node.names:
                targets.add(f"{source}.{alias.name}")
    # "import a.b.c" names a.b.c; keep the longest prefix that is one of our modules
    found: set[str] = set()
    for target in targets:
        parts = target.split(".")
        while parts and ".".join(parts) not in known:
            parts.pop()
        if parts:
            found.add(".".join(parts))
    found.discard(module)
    return found


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """The import graph of the packages under ``root``: module -> modules it imports."""
    modules = _modules(root, packages)
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
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
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
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
    return components


def test_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    sources = {
        "__init__.py": "from pkg.a import A\n",
        "a.py": "A = 1\n\n\ndef late():\n    from pkg import b\n    return b\n",
        "b.py": "import pkg.sub.c as c\n",
        "sub/__init__.py": "",
        "sub/c.py": "from ..a import A\nfrom . import d\n",
        "sub/d.py": "import json\n",
        "e.py": "from pkg.a import A\n",
    }
    for name, text in sources.items():
        (package / name).write_text(text, encoding="utf-8")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg", "pkg.b"},  # inside a function; from a package, a submodule
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": set(),
        "pkg.sub.c": {"pkg.a", "pkg.sub", "pkg.sub.d"},  # relative imports
        "pkg.sub.d": set(),
        "pkg.e": {"pkg.a"},
    }
    assert strongly_connected(graph) == [["pkg", "pkg.a", "pkg.b", "pkg.sub.c"]]


def test_graph_covers_the_three_packages() -> None:
    graph = import_graph()
    assert {"coverage", "api", "maps", "coverage.placement", "api.routes"} <= set(graph)
    assert "coverage.errors" in graph["coverage.placement.problem"]


def test_no_import_cycle() -> None:
    graph = import_graph()
    cycles = strongly_connected(graph)
    described = [
        " <-> ".join(component)
        + " : "
        + ", ".join(f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in component)
        for component in cycles
    ]
    assert not cycles, "cycles d'import :\n" + "\n".join(described)
