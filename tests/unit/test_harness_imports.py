"""The harness's import contract, read from the source (AST) of every module under it.

The harness judges the server from outside, so it must not reach ``shim.legacy``,
``shim.server``, ``shim.speech`` or ``shim.emulator``, not even through another ``shim``
module; its sub-packages import downwards only (``shim.harness.LAYERS``); and no two of its
modules import each other, directly or round a circle. Imports inside functions and under
``TYPE_CHECKING`` count: they are edges a reader has to follow too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from shim import harness
from tests.support.paths import ROOT

pytestmark = pytest.mark.unit

HARNESS = ROOT / "shim" / "harness"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _source(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _harness_modules() -> list[str]:
    return sorted(_module_name(path) for path in HARNESS.rglob("*.py"))


@cache
def imports_of(module: str) -> frozenset[str]:
    """The ``shim`` modules ``module`` imports; ``from package import name`` counts as the
    submodule when ``name`` is one, else as the package."""
    path = _source(module)
    assert path is not None, module
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if _source(candidate) is not None else base)
    return frozenset(name for name in found if name == "shim" or name.startswith("shim."))


def _reached(start: str) -> Iterator[tuple[str, list[str]]]:
    """Every ``shim`` module ``start`` reaches, with the chain of imports that gets there."""
    seen = {start}
    queue = [(start, [start])]
    while queue:
        module, chain = queue.pop(0)
        for imported in sorted(imports_of(module)):
            if imported in seen or _source(imported) is None:
                continue
            seen.add(imported)
            yield imported, [*chain, imported]
            queue.append((imported, [*chain, imported]))


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 3 or parts[:2] != ["shim", "harness"]:
        return None
    return harness.LAYERS.index(parts[2])


def test_the_walker_sees_top_level_lazy_and_from_package_imports() -> None:
    """Guards the tests below against passing because nothing was found."""
    tools = imports_of("shim.harness.cli.tools")
    assert "shim.harness.cli.client" in tools  # a top-level import
    assert "shim.harness.cli.compare" in tools  # an import inside a function
    assert "shim.harness.session.wavfile" in imports_of("shim.harness.session.synth")
    assert {"shim.harness.cli.tools", "shim.harness.cli.client"} <= imports_of("shim.cli")
    assert len(_harness_modules()) >= 30


@pytest.mark.parametrize("module", _harness_modules())
def test_the_harness_never_reaches_the_code_it_judges(module: str) -> None:
    for reached, chain in _reached(module):
        assert not reached.startswith(harness.FORBIDDEN), " → ".join(chain)


@pytest.mark.parametrize("module", _harness_modules())
def test_harness_sub_packages_import_only_their_own_layer_or_lower(module: str) -> None:
    own = _layer(module)
    for imported in imports_of(module):
        layer = _layer(imported)
        if own is not None and layer is not None:
            assert layer <= own, f"{module} imports {imported}, a layer above it"


def test_no_import_circles_inside_the_harness() -> None:
    modules = set(_harness_modules())
    graph = {m: sorted(i for i in imports_of(m) if i in modules) for m in modules}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circle = [*path[path.index(module) :], module]
            pytest.fail("import circle: " + " → ".join(circle))
        if module in done:
            return
        for imported in graph[module]:
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(modules):
        visit(module, [])
