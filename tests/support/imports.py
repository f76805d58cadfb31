"""The ``shim`` import graph, read from the source (AST) of every module, for the import tests.

Every import counts, wherever it is written: at the top, inside a function (a lazy import),
under ``if TYPE_CHECKING:``; each is an edge a reader has to follow. ``from package import
name`` counts as the submodule when ``name`` is one, else as the package; relative imports
are resolved.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path

from tests.support.paths import ROOT

SHIM = ROOT / "shim"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def modules_under(folder: Path = SHIM) -> list[str]:
    return sorted(module_name(path) for path in folder.rglob("*.py"))


@cache
def imports_of(module: str) -> frozenset[str]:
    """The ``shim`` modules ``module`` imports."""
    path = source(module)
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
                found.add(candidate if source(candidate) is not None else base)
    return frozenset(name for name in found if name == "shim" or name.startswith("shim."))


def reached(start: str) -> Iterator[tuple[str, list[str]]]:
    """Every ``shim`` module ``start`` reaches, with the chain of imports that gets there."""
    seen = {start}
    queue = [(start, [start])]
    while queue:
        module, chain = queue.pop(0)
        for imported in sorted(imports_of(module)):
            if imported in seen or source(imported) is None:
                continue
            seen.add(imported)
            yield imported, [*chain, imported]
            queue.append((imported, [*chain, imported]))


def find_circle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A circle in ``graph`` (node → nodes it points at), as ``[a, b, …, a]``, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph.get(node, ())):
            circle = visit(target, [*path, node])
            if circle is not None:
                return circle
        done.add(node)
        return None

    for node in sorted(graph):
        circle = visit(node, [])
        if circle is not None:
            return circle
    return None
