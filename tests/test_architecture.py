"""The import graph of sagespec itself: no cycles (lazy imports included) and arrows that point one way.

Every module under generator/ is parsed with ``ast``; every ``import`` / ``from ... import`` of a
sagespec module is collected wherever it stands (module level, inside a function, under
``TYPE_CHECKING``), relative imports resolved. ``from pkg import name`` is an arrow to ``pkg.name`` when
that is a module, else to ``pkg``. Importing a submodule runs its package's ``__init__`` too, but that is
not drawn as an arrow: package faces that re-export their submodules would make every package a cycle.
See docs/architecture.md for the rooms and the arrows.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "generator"
PACKAGE = "sagespec"  # generator/ is installed under this name
# Third-party packages that must never load while `sagespec new` renders a project.
HEAVY = ("sagemaker", "boto3", "botocore", "tensorflow")


@dataclass(frozen=True)
class Import:
    target: str  # a sagespec module, or a third-party module's dotted name
    line: int
    module_level: bool  # runs when the importing module is imported (not in a function or TYPE_CHECKING)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


@cache
def modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runs_later(node: ast.AST) -> bool:
    """A function body runs when called; an ``if TYPE_CHECKING:`` block never runs."""
    if isinstance(node, ast.If):
        return _is_type_checking(node)
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)


def _walk(node: ast.AST, module_level: bool):
    """Every import node under ``node``, with whether it runs at import time."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, module_level
        elif _runs_later(child):
            yield from _walk(child, False)
        else:
            yield from _walk(child, module_level)


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = modules()[importer].name == "__init__.py"
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


@cache
def imports_of(name: str) -> tuple[Import, ...]:
    tree = ast.parse(modules()[name].read_text(), filename=str(modules()[name]))
    found: list[Import] = []
    for node, module_level in _walk(tree, True):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            source = _resolve(name, node)
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules() else source
                for alias in node.names
            ]
        found += [Import(target, node.lineno, module_level) for target in targets]
    return tuple(found)


def internal_imports(name: str) -> set[str]:
    return {i.target for i in imports_of(name) if i.target in modules()}


def graph() -> dict[str, set[str]]:
    return {name: internal_imports(name) - {name} for name in modules()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _in(name: str, *packages: str) -> bool:
    return any(name == f"{PACKAGE}.{p}" or name.startswith(f"{PACKAGE}.{p}.") for p in packages)


def arrows(source: tuple[str, ...], target: tuple[str, ...]) -> list[str]:
    """Every import from a module of ``source`` into a module of ``target``, as 'a -> b (line n)'."""
    return [
        f"{name} -> {i.target} (line {i.line})"
        for name in modules()
        if _in(name, *source)
        for i in imports_of(name)
        if i.target in modules() and _in(i.target, *target)
    ]


# ------------------------------------------------------------------------------------------ the tests
def test_the_graph_is_read():
    edges = graph()
    assert f"{PACKAGE}.plan" in edges[f"{PACKAGE}.local.runner"]
    assert f"{PACKAGE}.spec.models" in edges[f"{PACKAGE}.plan"]
    # A lazy import is an arrow too.
    assert f"{PACKAGE}.render" in edges[f"{PACKAGE}.cli"]


def test_the_cycle_finder_finds_a_lazy_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(graph()) == []


def _outside(layer: str, allowed: tuple[str, ...]) -> dict[str, set[str]]:
    """The imports of ``layer``'s modules that leave the layer for anything but ``allowed``."""
    edges = graph()
    layer_modules = [name for name in modules() if _in(name, layer)]
    assert layer_modules, layer
    found = {name: {t for t in edges[name] if not _in(t, layer, *allowed)} for name in layer_modules}
    return {name: targets for name, targets in found.items() if targets}


def test_spec_imports_only_errors():
    assert _outside("spec", ("errors",)) == {}


def test_plan_imports_only_spec_and_errors():
    assert _outside("plan", ("spec", "errors")) == {}


# The arrows of docs/architecture.md: what each part may import besides itself and `errors`
# ("" is the package itself, for its __version__).
HELPERS = ("arguments", "foreground", "project_modules")
ALLOWED = {
    "spec": (),
    "plan": ("spec",),
    "deployment": ("spec",),
    "render": ("plan", "deployment", "spec", ""),
    "local": ("plan", "spec", "arguments"),
    "serve": ("local", "deployment", "spec", *HELPERS),
    "label": ("local", "plan", "spec", *HELPERS),
    "aws": ("spec", ""),
}


def _part(name: str) -> str:
    return name.removeprefix(f"{PACKAGE}.").split(".")[0] if name != PACKAGE else ""


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_imports_only_what_the_arrows_allow(part):
    allowed = {part, "errors", *ALLOWED[part]}
    assert {name: targets for name, targets in graph().items() if _part(name) == part} != {}
    wrong = {
        name: sorted(t for t in targets if _part(t) not in allowed)
        for name, targets in graph().items()
        if _part(name) == part
    }
    assert {name: targets for name, targets in wrong.items() if targets} == {}


def test_serve_and_label_never_import_render():
    assert arrows(("serve", "label"), ("render",)) == []


def test_command_groups_never_import_a_sibling_groups_cli():
    groups = ("local", "serve", "label", "aws")
    wrong = []
    for group in groups:
        others = tuple(g for g in groups if g != group)
        wrong += arrows((group,), tuple(f"{g}.cli" for g in others) + ("cli",))
    assert wrong == []


def _new_path() -> set[str]:
    """Every sagespec module `sagespec new` may load: sagespec.cli and what it reaches, lazily or not."""
    seen: set[str] = set()
    pending = [f"{PACKAGE}.cli"]
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending += internal_imports(name)
    return seen


def test_nothing_on_the_new_path_imports_aws_or_ml_libraries_at_module_level():
    path = _new_path()
    assert f"{PACKAGE}.render.project" in path
    wrong = [
        f"{name}: {i.target} (line {i.line})"
        for name in sorted(path)
        for i in imports_of(name)
        if i.module_level and i.target.split(".")[0] in HEAVY
    ]
    assert wrong == []


def test_sagespec_new_loads_no_aws_or_ml_library(tmp_path):
    """The same, as it runs: generating the example project leaves sagemaker, boto3 and TF unloaded."""
    script = textwrap.dedent(
        f"""
        import sys
        from sagespec.cli import main

        assert main(["new", {str(REPO / "specs" / "womens-clothing-bert.yaml")!r}, "-o", sys.argv[1]]) == 0
        print(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "project")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "[]"
