"""The package's layering, read from its source: no import cycle, no private name borrowed.

Imports inside functions count too: a cycle hidden in a function is still a cycle for a
reader, who has to hold both modules in their head to follow either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mnist_helpers

PACKAGE = Path(mnist_helpers.__file__).parent


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """``(module, names, line)`` for every import of a mnist_helpers module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "mnist_helpers":  # from mnist_helpers import plots
                for alias in node.names:
                    found.append((f"mnist_helpers.{alias.name}", [], node.lineno))
            elif node.module.startswith("mnist_helpers."):
                found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mnist_helpers."):
                    found.append((alias.name, [], node.lineno))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {f"mnist_helpers.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    graph = {}
    for path in sorted(PACKAGE.glob("*.py")):
        name = "mnist_helpers" if path.stem == "__init__" else f"mnist_helpers.{path.stem}"
        graph[name] = {m for m, _, _ in _imports(path) if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a list of modules (first == last), or [] when there is none."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_cycle_finder_finds_a_cycle():  # the test below could not fail without it
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_package_has_no_import_cycle():
    assert _cycle(_graph()) == []


def test_no_module_uses_another_modules_private_names():
    borrowed = [
        f"{path.name}:{line} imports {name} from {module}"
        for path in sorted(PACKAGE.glob("*.py"))
        for module, names, line in _imports(path)
        for name in names
        if name.startswith("_") and name != "__version__"
    ]
    for path in sorted(PACKAGE.glob("*.py")):  # module._name, after `from mnist_helpers import m`
        imported = {m.rsplit(".", 1)[1] for m, names, _ in _imports(path) if not names}
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in imported
                and node.attr.startswith("_")
            ):
                borrowed.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert borrowed == []


def test_the_readmes_module_map_names_every_module_once():
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme.split("## For developers", 1)[1].split("\n## ", 1)[0]
    rows = [row.split("|")[1].strip().strip("`") for row in section.splitlines() if row[:1] == "|"]
    rows = [name for name in rows if name and name not in ("module", "---")]
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert sorted(rows) == modules
