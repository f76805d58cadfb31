"""End-to-end fixtures: contract checks of every message the server sends; the drop-in server
with the real offline engines; Node with the JavaScript Speech SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.contracts import ContractSuite
from tests.support.js_sdk import node_executable
from tests.support.paths import read_pcm
from tests.support.processes import (
    Emulator,
    RunningProcess,
    Service,
    shim_command,
    start_process,
)
from tests.support.scenarios import INSPECT


@pytest.fixture
def contract() -> Iterator[ContractSuite]:
    """Observers for this test's sessions (``run_session(…, **contract.observer().hooks)``);
    the test fails if any server message broke a contract."""
    suite = ContractSuite()
    yield suite
    assert suite.problems == [], "\n".join(suite.problems)


def _local_process(
    tmp_path_factory: pytest.TempPathFactory, command: str
) -> Iterator[RunningProcess]:
    """``command --engine local`` on a free port (skips when the engines are not installed)."""
    from shim.emulator.engines.local import unavailable_reason

    why = unavailable_reason()
    if why is not None:
        pytest.skip(f"local engines not installed: {why}")
    log = tmp_path_factory.mktemp(f"local-{command}") / f"{command}.log"
    running = start_process(shim_command(command, "--port", "0", "--engine", "local"), log)
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module")
def local_shim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    """The drop-in server with ``--engine local``."""
    yield from _local_process(tmp_path_factory, "serve")


@pytest.fixture(scope="session")
def local_speech_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    """The local Speech service (``emulator``) with the offline engines, one for the run: its
    models load once."""
    yield from _local_process(tmp_path_factory, "emulator")


@pytest.fixture(scope="module")
def node() -> str:
    """Node with Microsoft's JavaScript Speech SDK (tests/js); skips, or in CI fails, without."""
    return node_executable()


@pytest.fixture
def pcm_file(tmp_path: Path) -> Callable[..., str]:
    """Writes PCM (a shared recording by name, or bytes) to a file the Node session reads."""

    def write(name: str | None = None, pcm: bytes | None = None) -> str:
        data = pcm if pcm is not None else read_pcm(name or INSPECT)
        path = tmp_path / f"audio-{len(list(tmp_path.iterdir()))}.pcm"
        path.write_bytes(data)
        return str(path)

    return write


@pytest.fixture(params=["scripted", "local"])
def service(request: pytest.FixtureRequest, emulator: Emulator) -> Service:
    """The test once on each engine (skipped on the local one when it is not installed)."""
    if request.param == "scripted":
        return Service("scripted", emulator.url, emulator)
    local: RunningProcess = request.getfixturevalue("local_speech_service")
    return Service("local", local.url, emulator)
