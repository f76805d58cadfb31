"""Shared fixtures: the real local Speech service and the drop-in server as separate
processes, one each for the whole run. Helpers live in :mod:`tests.support`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.logscan import (  # noqa: F401 (autouse: no key or token in any log line)
    _log_scan_session,
    _no_secrets_in_logs,
)
from tests.support.processes import Emulator, Shim, shim_args, shim_command, start_process


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One local Speech service process for the whole run; each test picks its scenario by key."""
    base = tmp_path_factory.mktemp("emulator")
    scenarios = base / "scenarios"
    scenarios.mkdir()
    running = start_process(
        shim_command("emulator", "--scenario-dir", str(scenarios)), base / "emulator.log"
    )
    yield Emulator(running, scenarios)
    code = running.stop()
    assert code == 0, f"local Speech service exited {code}:\n{running.log()[-3000:]}"


@pytest.fixture(scope="session")
def shim(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shim]:
    """One drop-in server process for the run, in front of the session's local Speech service."""
    log_path = tmp_path_factory.mktemp("shim") / "shim.log"
    running = start_process(shim_args(emulator), log_path)
    yield Shim(running, emulator)
    code = running.stop()
    assert code == 0, f"shim exited {code}:\n{running.log()[-3000:]}"
