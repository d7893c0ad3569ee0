"""The shape of reference/: topic subpackages in layers, no import circles, short modules.

A module may import from its own layer or a lower one, never from above, and
the import graph has no cycles (imports inside functions and under
TYPE_CHECKING count too: a cycle hidden in a function is still a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parent.parent / "reference"

LAYERS = {
    "tools": 0,
    "wire": 0,
    "rpc": 1,
    "net": 1,
    "delivery": 2,
    "routing": 2,
    "order": 2,
    "security": 2,
    "debug": 2,
    "capstone": 3,
}
MAX_LINES = 375  # "about 350": short enough to read in one sitting; split a module past it


def module_name(path: Path) -> str:
    parts = path.relative_to(REFERENCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def reference_imports(path: Path) -> set[str]:
    """Every `reference.*` module that `path` imports, wherever the import is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("reference"))
        elif isinstance(node, ast.ImportFrom) and _from_reference(node):
            for alias in node.names:  # `from reference.net import spacetime` names a module
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return found


def _from_reference(node: ast.ImportFrom) -> bool:
    module = node.module or ""
    return node.level == 0 and (module == "reference" or module.startswith("reference."))


def package_of(module: str) -> str:
    return module.split(".")[1]


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, imports in sorted(graph.items()):
        for imported in sorted(imports):
            if imported.count(".") < 2:
                problems.append(f"{module} imports the package {imported}, not a module")
            elif LAYERS[package_of(imported)] > LAYERS[package_of(module)]:
                layer = package_of(module)
                problems.append(f"{module} (layer {layer}) imports {imported} above it")
    return problems


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that ends where it starts, or None."""
    done: set[str] = set()
    for root in sorted(graph):
        path: list[str] = []
        on_path: set[str] = set()
        stack = [(root, iter(sorted(graph.get(root, ()))))]
        if root in done:
            continue
        path.append(root)
        on_path.add(root)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
            elif child in on_path:
                return [*path[path.index(child) :], child]
            elif child not in done:
                stack.append((child, iter(sorted(graph.get(child, ())))))
                path.append(child)
                on_path.add(child)
    return None


FILES = sorted(REFERENCE.rglob("*.py"))
MODULES = {module_name(path) for path in FILES}
GRAPH = {
    module_name(path): reference_imports(path) - {module_name(path)}
    for path in FILES
    if path.name != "__init__.py"
}


def test_every_module_lives_in_a_known_topic_package_one_level_deep():
    for path in FILES:
        parts = path.relative_to(REFERENCE).parts
        if parts == ("__init__.py",):
            continue
        assert len(parts) == 2, f"{path}: reference/ holds topic packages one level deep"
        assert parts[0] in LAYERS, f"{parts[0]}/ is not a known topic package: add it to LAYERS"


def test_package_files_hold_a_docstring_and_no_re_exports():
    for path in REFERENCE.rglob("__init__.py"):
        body = ast.parse(path.read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), f"{path}: docstring only"
        assert isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)


def test_every_module_opens_with_a_docstring():
    for path in FILES:
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no top docstring"


def test_no_module_imports_from_a_higher_layer():
    assert layer_violations(GRAPH) == []


def test_there_are_no_import_cycles():
    assert find_cycle(GRAPH) is None


@pytest.mark.parametrize("path", [p for p in FILES if p.name != "__init__.py"], ids=module_name)
def test_modules_are_short_enough_to_read_in_one_sitting(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines: split it by concern"


# The checks themselves, on graphs with known faults.


def test_the_cycle_finder_finds_a_cycle_hidden_among_others():
    graph = {
        "reference.wire.a": set(),
        "reference.net.b": {"reference.net.c", "reference.wire.a"},
        "reference.net.c": {"reference.net.d"},
        "reference.net.d": {"reference.net.b"},
    }
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert set(cycle) == {"reference.net.b", "reference.net.c", "reference.net.d"}
    del graph["reference.net.d"]
    assert find_cycle(graph) is None


def test_the_layer_check_rejects_an_upward_import_and_accepts_a_downward_one():
    assert layer_violations({"reference.net.x": {"reference.wire.framing"}}) == []
    assert layer_violations({"reference.wire.x": {"reference.net.simnet"}}) == [
        "reference.wire.x (layer wire) imports reference.net.simnet above it"
    ]
    assert layer_violations({"reference.delivery.x": {"reference.capstone.chat"}}) != []


def test_imports_inside_functions_count(tmp_path):
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    from reference.net import spacetime\n    return spacetime\n")
    assert reference_imports(source) == {"reference.net.spacetime"}
