"""End-to-end fixtures: contract checks of every message the server sends; the drop-in server
with the real offline engines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.contracts import ContractSuite
from tests.support.processes import RunningProcess, shim_command, start_process


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


@pytest.fixture(scope="module")
def local_speech_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    """The local Speech service (``emulator``) with the offline engines."""
    yield from _local_process(tmp_path_factory, "emulator")
