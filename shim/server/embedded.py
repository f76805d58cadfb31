"""The embedded local Speech service as the drop-in server sees it: where it listens and
which language pairs its engines serve.

Single process: :func:`run_embedded` starts the service in this process on a loopback port.
With ``serve --workers N`` the supervisor runs it once (the offline engines load once) and
writes an :class:`EmbeddedBackend` description to the workers' shared directory; each worker
loads it. The engines cannot travel in a file, so which pairs they serve becomes a table over
the catalog's speech locales and text languages: the only values a handshake ever asks about,
since it normalises ``from`` and ``to`` through the same catalog.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from shim.catalog.catalog import Catalog

log = logging.getLogger("shim.server")

# (source locale, target language or None) -> None when served, else the reason it is not.
PairCheck = Callable[[str, str | None], str | None]
Synthesis = Collection[str] | Literal["*"]
_NOT_IN_TABLE = "the local Speech service's engines do not serve this pair"


@dataclass(frozen=True)
class EmbeddedBackend:
    host: str  # ws://127.0.0.1:PORT
    engine: str  # the engine's name, for logs
    synthesis: Synthesis  # languages its text-to-speech speaks (primary subtags), or "*"
    supports: PairCheck

    def save(self, path: Path, catalog: Catalog) -> None:
        """Write this description, with the pairs over ``catalog`` as a table."""
        sources = sorted(
            {s.locale for s in catalog.speech_locales}
            | {s.locale for s in catalog.legacy_speech}
            | {s.locale for current in (True, False) for s in catalog.speech_languages(current)}
        )
        targets = sorted(
            {t.code for t in catalog.text}
            | {t.code for current in (True, False) for t in catalog.text_languages(current)}
        )
        reasons: list[str] = []
        index: dict[str, int] = {}
        table: dict[str, dict[str, int | None]] = {}
        for source in sources:
            row: dict[str, int | None] = {}
            for target in [None, *targets]:
                reason = self.supports(source, target)
                if reason is not None and reason not in index:
                    index[reason] = len(reasons)
                    reasons.append(reason)
                row[target or ""] = None if reason is None else index[reason]
            table[source] = row
        document = {
            "host": self.host,
            "engine": self.engine,
            "synthesis": self.synthesis if self.synthesis == "*" else sorted(self.synthesis),
            "reasons": reasons,
            "pairs": table,
        }
        path.write_text(json.dumps(document, separators=(",", ":")))

    @classmethod
    def load(cls, path: Path) -> EmbeddedBackend:
        document: dict[str, Any] = json.loads(path.read_text())
        reasons: list[str] = document["reasons"]
        table: dict[str, dict[str, int | None]] = document["pairs"]

        def supports(source: str, target: str | None = None) -> str | None:
            row = table.get(source)
            if row is None or (target or "") not in row:
                return _NOT_IN_TABLE
            found = row[target or ""]
            return None if found is None else reasons[found]

        synthesis = document["synthesis"]
        return cls(document["host"], document["engine"], synthesis, supports)


@contextlib.asynccontextmanager
async def run_embedded(
    scenario_path: Path | None, engine: str, *, log_ready: bool = True
) -> AsyncIterator[EmbeddedBackend]:
    """Run the local Speech service in this process on a free loopback port."""
    from shim.emulator.engines.scenario import load_scenario
    from shim.emulator.service import EmulatorSettings, create_app, engine_of
    from shim.serving import start_site

    scenario = load_scenario(scenario_path) if scenario_path else None
    # A scenario is the scripted engine's script: with one, "auto" means scripted.
    chosen = "scripted" if scenario is not None and engine == "auto" else engine
    emulator = create_app(EmulatorSettings(scenario=scenario, engine=chosen))
    runner, port = await start_site(emulator, "127.0.0.1", 0, access_log=False)
    engine_ = engine_of(emulator)
    backend = EmbeddedBackend(
        f"ws://127.0.0.1:{port}",
        engine_.name,
        engine_.capabilities()["synthesis_languages"],
        engine_.supports,
    )
    if log_ready:
        log.info("embedded local Speech service (%s engine) on %s", backend.engine, backend.host)
    try:
        yield backend
    finally:
        await runner.cleanup()
