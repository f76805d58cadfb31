"""The harness's import contract, read from the source (AST) of every module under it.

The harness judges the server from outside, so it must not reach what it judges
(``shim.harness.FORBIDDEN``: ``shim.legacy``, ``shim.server``, ``shim.speech``,
``shim.emulator``, ``shim.auth``, …), not even through another ``shim`` module; its
sub-packages import downwards only (``shim.harness.LAYERS``); and no two of its modules
import each other, directly or round a circle. Imports inside functions and under
``TYPE_CHECKING`` count: they are edges a reader has to follow too. The layering of the
whole ``shim`` package is ``test_import_layers.py``.
"""

from __future__ import annotations

import pytest

from shim import harness
from tests.support.imports import SHIM, find_circle, imports_of, modules_under, reached

pytestmark = pytest.mark.unit

HARNESS = SHIM / "harness"


def _harness_modules() -> list[str]:
    return modules_under(HARNESS)


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 3 or parts[:2] != ["shim", "harness"]:
        return None
    return harness.LAYERS.index(parts[2])


def test_the_walker_sees_top_level_lazy_and_from_package_imports() -> None:
    """Guards the tests below against passing because nothing was found."""
    parsers = imports_of("shim.harness.cli.parsers")
    assert "shim.harness.cli.client" in parsers  # a top-level import
    assert "shim.harness.cli.compare" in parsers  # an import inside a function
    assert "shim.harness.session.wavfile" in imports_of("shim.harness.session.synth")
    assert {"shim.harness.cli.parsers", "shim.harness.cli.client"} <= imports_of("shim.cli")
    assert len(_harness_modules()) >= 30


@pytest.mark.parametrize("module", _harness_modules())
def test_the_harness_never_reaches_the_code_it_judges(module: str) -> None:
    for found, chain in reached(module):
        assert not found.startswith(harness.FORBIDDEN), " → ".join(chain)


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
    circle = find_circle(graph)
    assert circle is None, "import circle: " + " → ".join(circle or [])
