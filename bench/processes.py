"""Child processes of the benchmark: start, talk to by lines, measure, stop.

Only processes this module started are ever signalled, by their own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench.overhead_plan import ROOT


@dataclass
class Child:
    """A started process: its stdout is the protocol, its stderr goes to ``log_path``."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    ps: psutil.Process

    async def line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        try:
            raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        except TimeoutError:
            raise RuntimeError(f"{self.name}: no output for {timeout:.0f} s{self.tail()}") from None
        if not raw:
            code = await self.process.wait()
            raise RuntimeError(f"{self.name} exited {code}{self.tail()}")
        return raw.decode().strip()

    async def event(self, name: str, timeout: float) -> dict[str, Any]:
        line = await self.line(timeout)
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            raise RuntimeError(f"{self.name}: unexpected output {line!r}") from None
        if message.get("event") != name:
            raise RuntimeError(f"{self.name}: expected {name!r}, got {line!r}")
        return message

    async def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{text}\n".encode())
        await self.process.stdin.drain()

    async def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (the shim drains and exits 0), then SIGKILL if it does not exit in time."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            return await self.process.wait()

    def tail(self, chars: int = 2000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return f"\n--- {self.log_path} (end) ---\n{text[-chars:]}" if text else ""


async def start(name: str, args: list[str], log_path: Path) -> Child:
    log_file = log_path.open("wb")
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=log_file,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log_file.close()
    return Child(name, process, log_path, psutil.Process(process.pid))


async def start_service(name: str, args: list[str], log_path: Path) -> tuple[Child, str]:
    """A ``shim`` command that prints ``ready URL`` once listening."""
    child = await start(name, args, log_path)
    line = await child.line(60.0)
    if not line.startswith("ready "):
        await child.stop()
        raise RuntimeError(f"{name} printed {line!r}{child.tail()}")
    return child, line.split()[1]


def system_busy_seconds() -> float:
    """CPU time the whole machine spent on anything but idling, all CPUs together."""
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + times.irq + times.softirq + times.steal)


class ForeignLoad:
    """Cores kept busy by processes that are not ours (other people's tests, benchmarks)."""

    def __init__(self, ours: list[psutil.Process]) -> None:
        self._ours = ours
        self._start = self._read()

    def _read(self) -> tuple[float, float, float]:
        mine = 0.0
        for ps in self._ours:
            with contextlib.suppress(psutil.Error):
                mine += cpu_seconds(ps)
        return time.monotonic(), system_busy_seconds(), mine

    def cores(self) -> float:
        (t0, busy0, mine0), (t1, busy1, mine1) = self._start, self._read()
        return max(0.0, (busy1 - busy0) - (mine1 - mine0)) / max(t1 - t0, 1e-3)


async def wait_for_quiet(threshold: float, longest: float) -> float:
    """Wait (up to ``longest`` s) until others use under ``threshold`` cores; returns their load."""
    deadline = time.monotonic() + longest
    while True:
        load = ForeignLoad([psutil.Process()])
        await asyncio.sleep(2.0)
        cores = load.cores()
        if cores < threshold or time.monotonic() > deadline:
            return cores


def cpu_seconds(ps: psutil.Process) -> float:
    times = ps.cpu_times()
    return float(times.user + times.system)


@dataclass
class Usage:
    """Peaks of one process while the sampler ran."""

    rss_peak: int = 0
    threads_peak: int = 0


async def sample(
    processes: dict[str, psutil.Process], stop: asyncio.Event, interval: float = 0.1
) -> dict[str, Usage]:
    """RSS and native threads of ``processes`` every ``interval`` s until ``stop`` is set."""
    usage = {name: Usage() for name in processes}
    while not stop.is_set():
        for name, ps in processes.items():
            with contextlib.suppress(psutil.Error):
                seen = usage[name]
                seen.rss_peak = max(seen.rss_peak, ps.memory_info().rss)
                seen.threads_peak = max(seen.threads_peak, ps.num_threads())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    return usage


async def settle_threads(
    ps: psutil.Process, baseline: int, timeout: float = 15.0, stable: float = 3.0
) -> float:
    """Seconds until ``ps`` is back to ``baseline`` threads or its count stops changing."""
    started = last_change = time.monotonic()
    last = ps.num_threads()
    while (now := time.monotonic()) - started < timeout:
        threads = ps.num_threads()
        if threads <= baseline:
            return now - started
        if threads != last:
            last, last_change = threads, now
        elif now - last_change >= stable:
            return last_change - started
        await asyncio.sleep(0.2)
    return time.monotonic() - started
