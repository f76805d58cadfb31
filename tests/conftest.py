"""Shared fixtures: the real local Speech service as a separate process, test audio."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import logscan
from tests.logscan import _log_scan_session, _no_secrets_in_logs  # noqa: F401 (autouse: no key or token in any log line)

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
AUDIO = SHARED / "audio"


def shim_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "shim", *args]


def read_pcm(name: str) -> bytes:
    """The PCM samples of a shared recording (16 kHz mono 16-bit)."""
    with wave.open(str(AUDIO / name)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        return wav.readframes(wav.getnframes())


@dataclass
class RunningProcess:
    process: subprocess.Popen[str]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 45.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def start_process(
    args: list[str], log_path: Path, env: dict[str, str] | None = None, timeout: float = 90.0
) -> RunningProcess:
    """Start a shim command and wait for its ``ready URL`` line."""
    logscan.register_process(args, env, log_path)
    log_file = log_path.open("w")
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=log_file,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    import selectors

    selector = selectors.DefaultSelector()
    assert process.stdout is not None
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        process.kill()
        raise RuntimeError(f"{args} did not become ready:\n{log_path.read_text()}")
    line = process.stdout.readline()
    if not line.startswith("ready "):
        process.kill()
        raise RuntimeError(f"{args} printed {line!r}:\n{log_path.read_text()}")
    return RunningProcess(process, line.split()[1], log_path)


@dataclass
class Emulator:
    running: RunningProcess
    scenario_dir: Path

    @property
    def url(self) -> str:
        return self.running.url

    def scenario(self, document: dict[str, object]) -> str:
        """Register a scenario; the returned subscription key selects it."""
        key = logscan.known_secret(f"t{uuid.uuid4().hex[:16]}")
        (self.scenario_dir / f"{key}.json").write_text(json.dumps(document))
        return key


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


@dataclass
class Shim:
    running: RunningProcess
    emulator: Emulator

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://").replace("https://", "wss://")


def shim_args(emulator: Emulator, *extra: str) -> list[str]:
    """``serve`` on a free port in front of the test emulator; the client key picks the scenario."""
    return shim_command(
        "serve",
        "--port",
        "0",
        "--speech-host",
        emulator.url,
        "--auth",
        "passthrough",
        "--idle-timeout",
        "20",
        *extra,
    )


@pytest.fixture(scope="session")
def shim(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shim]:
    """One drop-in server process for the run, in front of the session's local Speech service."""
    log_path = tmp_path_factory.mktemp("shim") / "shim.log"
    running = start_process(shim_args(emulator), log_path)
    yield Shim(running, emulator)
    code = running.stop()
    assert code == 0, f"shim exited {code}:\n{running.log()[-3000:]}"
