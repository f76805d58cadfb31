"""Local Speech services as the resources of a pool, and the drop-in server in front of them
(``serve --backends``), for the pool's end-to-end tests.

Each service says its name in its finals (``"a: …"``), so a client's results show which
resource produced each; its faults are switched while it runs (``PUT /emulator/faults``),
and it can be killed (``kill -9``: no close frame, its port refuses from then on).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.processes import RunningProcess, shim_command, start_process


@dataclass
class Service:
    """A local Speech service of the pool; its finals say its name."""

    name: str
    running: RunningProcess

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def http_url(self) -> str:
        return self.url.replace("ws://", "http://", 1)

    async def connected(self, count: int) -> None:
        """Wait until the service has ``count`` connections open (a bounded wait)."""
        for _ in range(600):
            _, health = await get_json(self.http_url + "/healthz")
            if health["connections"] == count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} never had {count} connections open")

    async def faults(self, faults: list[dict[str, Any]]) -> None:
        """Faults for every new connection from now on ([] clears them)."""
        async with (
            aiohttp.ClientSession() as http,
            http.put(self.http_url + "/emulator/faults", data=json.dumps(faults)) as response,
        ):
            assert response.status == 200, await response.text()

    def kill(self) -> None:
        """kill -9: connections reset, no close frame; the port refuses from now on."""
        self.running.process.kill()
        self.running.process.wait()


def start_service(
    name: str,
    directory: Path,
    utterances: Sequence[Mapping[str, Any]],
    faults: Sequence[Mapping[str, Any]] = (),
) -> Service:
    """A local Speech service whose scripted finals are ``utterances``, prefixed ``name: ``."""
    scenario: dict[str, Any] = {
        "utterances": [{**u, "text": f"{name}: {u['text']}"} for u in utterances]
    }
    if faults:
        scenario["faults"] = list(faults)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(scenario))
    command = shim_command("emulator", "--scenario", str(path))
    return Service(name, start_process(command, directory / f"emulator-{name}.log"))


def pool_file(path: Path, services: Mapping[str, Service], extra: str = "", **limits: int) -> Path:
    entries = "".join(
        f"  - name: {s.name}\n    host: {s.url}\n    max_sessions: {limits.get(s.name, 40)}\n"
        for s in services.values()
    )
    path.write_text("backends:\n" + entries + extra)
    return path


def serve(
    directory: Path,
    services: Mapping[str, Service],
    *extra: str,
    pools: str = "",
    **limits: int,
) -> RunningProcess:
    """``serve --backends`` on a free port with ``services`` as its pool (``pools``: more of
    the file: named pools, cooldowns)."""
    pool = pool_file(directory / "backends.yaml", services, pools, **limits)
    return start_process(
        shim_command("serve", "--port", "0", "--backends", str(pool), *extra),
        directory / "shim.log",
    )


async def get_json(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def no_session_left(url: str) -> dict[str, Any]:
    """``/healthz`` once no session object of the server is alive any more (the last
    teardowns may still run when the clients have their Close; a bounded wait)."""
    for _ in range(100):
        _, health = await get_json(url + "/healthz")
        if health["session_objects"] == 0:
            return health
        await asyncio.sleep(0.1)
    raise AssertionError(f"session objects still alive: {health['session_objects']}")
