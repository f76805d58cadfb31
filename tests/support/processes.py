"""Shim commands as separate processes: started on a free port, ready when they print
``ready URL``, stopped with SIGTERM. Every process's log is scanned for secrets
(:mod:`tests.support.logscan`)."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.support import logscan
from tests.support.paths import ROOT


def run_tool(
    *args: str | Path, timeout: float = 240, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A migration command (``record``, ``compare``, ``replay-set`` …) run to its end, as a
    process of the tools' own entry point; ``environ`` replaces this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "shim.harness.cli.parsers", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**(os.environ if environ is None else environ), "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
    )


def shim_command(*args: str) -> list[str]:
    """``python -m shim ARGS`` with this interpreter: the checkout's code, not the console
    script's."""
    return [sys.executable, "-m", "shim", *args]


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


@dataclass(frozen=True)
class Service:
    """A local Speech service to run a test on: the scripted one (a key picks the scenario)
    or the one with the local engines (any key; scenarios do not apply)."""

    engine: str
    url: str
    emulator: Emulator

    @property
    def scripted(self) -> bool:
        return self.engine == "scripted"

    def key(self, scenario: dict[str, object]) -> str:
        return self.emulator.scenario(scenario) if self.scripted else "any"
