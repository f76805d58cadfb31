"""The layers of ``shim``, read from the source (AST) of every module: no upward imports, no
import circles between or within the packages.

Each module belongs to one unit: a package (``shim.server``, ``shim.legacy``, …), a
top-level module with a place of its own (``shim.cli``, ``shim.config``) or one of the
neutral modules, which import only each other. :data:`MAY_IMPORT` says which units a unit
may import besides itself and the neutral modules; it is a directed graph without circles,
so "upward" is well defined. docs/architecture.md tells the same story in prose. Every import
counts, lazy ones inside functions and ``TYPE_CHECKING`` ones too (:mod:`tests.support.imports`).
"""

from __future__ import annotations

import pytest

from tests.support.imports import find_circle, imports_of, modules_under, source

pytestmark = pytest.mark.unit

NEUTRAL = frozenset(
    {
        "shim",  # the package itself (empty)
        "shim.audiotime",
        "shim.boundedjson",
        "shim.contractcheck",
        "shim.espeak",
        "shim.logs",
        "shim.logsink",
        "shim.mp3",
        "shim.pcmformat",
        "shim.redaction",
        "shim.serving",
        "shim.wsframes",
    }
)
"""Top-level modules with one job that many parts share; they import no shim package."""

MAY_IMPORT: dict[str, frozenset[str]] = {
    # the console script: every command
    "shim.__main__": frozenset({"shim.cli"}),
    "shim.cli": frozenset(
        {"shim.config", "shim.serve_flags", "shim.server", "shim.emulator", "shim.harness"}
    ),
    # the drop-in server: the legacy core, the SDK bridge, the embedded local service, ...;
    # captures are written in the harness's recording format and shadow sessions compared
    # and reported by its comparison (one format, one comparison: docs/architecture.md)
    "shim.server": frozenset(
        {
            "shim.config",
            "shim.auth",
            "shim.legacy",
            "shim.pool",
            "shim.speech",
            "shim.emulator",
            "shim.catalog",
            "shim.harness.recordings",
            "shim.harness.compare",
            "shim.harness.reports",
        }
    ),
    # every setting; the session limits' defaults are the legacy core's; the pool file
    "shim.config": frozenset({"shim.legacy", "shim.pool"}),
    # the serve command's flags (argparse only); their values become settings in config
    "shim.serve_flags": frozenset(),
    # credentials: refusals are legacy handshake errors of the legacy request's credential
    "shim.auth": frozenset({"shim.legacy"}),
    # the migration harness judges the rest from outside: neutral modules only
    "shim.harness": frozenset(),
    # the local Speech service: a stand-in for Azure, knows nothing of the shim around it
    "shim.emulator": frozenset({"shim.emulator.engines", "shim.catalog"}),
    # its engines (scripted, local) behind one boundary (engines/base.py): they know nothing
    # of the service around them (USP, connections, turns, faults, metrics)
    "shim.emulator.engines": frozenset(),
    # the pool of Speech resources: which failures are a resource's comes from the failures
    "shim.pool": frozenset({"shim.legacy.errors"}),
    # the legacy protocol, sans-I/O: the bridge's event data classes, the catalog
    "shim.legacy": frozenset({"shim.speech.events", "shim.catalog"}),
    # the one SDK boundary
    "shim.speech": frozenset(),
    # languages and voices: data and normalisation
    "shim.catalog": frozenset(),
}


def unit_of(module: str) -> str:
    if module in NEUTRAL:
        return module
    for unit in sorted(MAY_IMPORT, key=len, reverse=True):
        if module == unit or module.startswith(unit + "."):
            return unit
    raise AssertionError(f"{module} belongs to no unit: add it to NEUTRAL or MAY_IMPORT")


def allowed(importer: str, imported: str) -> bool:
    if importer in NEUTRAL:
        return imported in NEUTRAL
    if imported in NEUTRAL or unit_of(imported) == unit_of(importer):
        return True
    return any(
        imported == name or imported.startswith(name + ".")
        for name in MAY_IMPORT[unit_of(importer)]
    )


def _violations(module: str) -> list[str]:
    return [
        f"{module} ({unit_of(module)}) imports {imported} ({unit_of(imported)})"
        for imported in sorted(imports_of(module))
        if source(imported) is not None and not allowed(module, imported)
    ]


MODULES = modules_under()


def test_the_walker_sees_lazy_type_checking_relative_and_from_package_imports() -> None:
    """Guards the tests below against passing because nothing was found."""
    assert "shim.emulator.service" in imports_of("shim.server.embedded")  # inside a function
    assert "shim.harness.session.wavfile" in imports_of("shim.harness.session.synth")
    assert "shim.speech.events" in imports_of("shim.legacy.conduct")
    assert {"shim.server.app", "shim.harness.cli.parsers"} <= imports_of("shim.cli")
    assert len(MODULES) >= 120


def test_every_module_belongs_to_a_unit() -> None:
    """A new top-level module must be placed: neutral, or a unit of its own with its rules."""
    for module in MODULES:
        unit_of(module)


def test_the_layers_themselves_have_no_circle() -> None:
    graph = {unit: {unit_of(name) for name in targets} for unit, targets in MAY_IMPORT.items()}
    assert find_circle(graph) is None


@pytest.mark.parametrize("module", MODULES)
def test_a_module_imports_only_its_own_unit_the_neutral_modules_and_the_layers_below(
    module: str,
) -> None:
    assert _violations(module) == []


def test_no_import_circles_between_or_within_the_packages() -> None:
    graph = {m: sorted(i for i in imports_of(m) if source(i) is not None) for m in MODULES}
    circle = find_circle(graph)
    assert circle is None, "import circle: " + " → ".join(circle or [])


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("shim.legacy.conduct", "shim.speech.bridge"),  # legacy: only the event data classes
        ("shim.legacy.request", "shim.server.http"),
        ("shim.speech.bridge", "shim.legacy.errors"),
        ("shim.emulator.synthesis_service", "shim.server.http"),
        ("shim.emulator.engines.local", "shim.legacy.audio"),
        ("shim.harness.cli.parsers", "shim.auth"),
        ("shim.catalog.catalog", "shim.legacy.languages"),
        ("shim.logs", "shim.server.app"),  # neutral modules import no package
        ("shim.audiotime", "shim.catalog"),
        ("shim.pool.core", "shim.speech.bridge"),  # the pool decides; the server connects
        ("shim.pool.trouble", "shim.legacy.conduct"),  # the failures only, not the session
        ("shim.emulator.engines.local", "shim.emulator.connection"),  # engines: not upward
        ("shim.emulator.engines.base", "shim.emulator.usp_bodies"),
        ("shim.emulator.engines.scripted", "shim.emulator.recognition"),
        ("shim.legacy.conduct", "shim.pool.core"),
    ],
)
def test_the_rules_refuse_upward_and_sideways_imports(importer: str, imported: str) -> None:
    """The table is not vacuous: imports the layering forbids are refused."""
    assert not allowed(importer, imported)


def test_the_event_path_contract_knows_no_path_and_the_paths_know_no_choice() -> None:
    """``event_path`` is the one contract (signals, connect): both paths import it, it imports
    neither; the paths and their self-test never reach the choice that picks among them."""
    shim_imports = {i for i in imports_of("shim.speech.event_path") if i.startswith("shim.")}
    assert shim_imports == {"shim.speech.events"}
    for path in ("shim.speech.native_events", "shim.speech.public_events"):
        assert "shim.speech.event_path" in imports_of(path)
    for module in (
        "shim.speech.native_events",
        "shim.speech.public_events",
        "shim.speech.self_test",
    ):
        assert "shim.speech.path_choice" not in imports_of(module)
