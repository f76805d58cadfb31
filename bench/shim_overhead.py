"""What the drop-in server adds on top of the Speech SDK: latency, CPU, memory, threads.

    .venv/bin/python -m bench.shim_overhead --sessions 1,10,30 --out docs/performance.md

For each N and SDK polling setting, one run with five processes: the local Speech service,
the shim in front of it, N legacy clients through the shim (one worker process), and N
direct Speech SDK clients on the same service (another worker process), both sides streaming
the same recording at real time in the same window. See docs/performance.md, "Drop-in server
overhead", for the method. Raw results go to bench/results/ (gitignored): one JSON report per
invocation, and a folder beside it with each run's logs, scenarios and client records.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench import overhead_doc
from bench.overhead_plan import CHUNK_SECONDS, ROOT, Plan, session_key
from bench.overhead_stats import (
    CpuWindow,
    added_latency,
    cpu_report,
    rss_per_session_mb,
    side_latencies,
    side_report,
)
from bench.processes import (
    Child,
    ForeignLoad,
    cpu_seconds,
    sample,
    settle_threads,
    start,
    start_service,
    wait_for_quiet,
)

POLLING_PROPERTY = "SPEECH-USPRunPollingInterval"
RESULTS = ROOT / "bench" / "results"
SHIM_EXIT_TIMEOUT = 30.0  # after SIGTERM (drain 5 s, then sessions closed); then SIGKILL
START_DELAY = 0.5  # between "go" and the first chunk: both workers get the line in time
# The machine may be shared (other people's tests): before each run, wait a while for it to
# be quiet, then measure what others use during the run and report it beside the figures.
QUIET_CORES = 0.2
QUIET_WAIT = 60.0


@dataclass(frozen=True)
class RunConfig:
    sessions: int
    polling_ms: int | None  # None: the SDK default (10 ms)
    loops: int
    result_timeout: float
    stream_factor: float

    @property
    def tag(self) -> str:
        return f"n{self.sessions}-{'p' + str(self.polling_ms) if self.polling_ms else 'default'}"

    @property
    def plan(self) -> Plan:
        return Plan(self.sessions, self.loops)

    @property
    def properties(self) -> list[str]:
        return [f"{POLLING_PROPERTY}={self.polling_ms}"] if self.polling_ms else []


@dataclass
class Workers:
    """The two client workers of a run, legacy (through the shim) and direct (SDK)."""

    legacy: Child
    direct: Child
    results: dict[str, Path]

    @property
    def both(self) -> tuple[Child, Child]:
        return self.legacy, self.direct

    async def send(self, line: str) -> None:
        await asyncio.gather(*(worker.send(line) for worker in self.both))

    async def event(self, name: str, timeout: float) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(w.event(name, timeout) for w in self.both)))


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def write_scenarios(config: RunConfig, directory: Path) -> None:
    directory.mkdir(parents=True)
    for session in range(config.sessions):
        path = directory / f"{session_key(config.tag, session)}.json"
        path.write_text(json.dumps(config.plan.scenario(session)))


async def start_worker(
    kind: str, url: str, config: RunConfig, directory: Path
) -> tuple[Child, Path]:
    results = directory / f"{kind}.json"
    args = python_module(
        "bench.overhead_clients",
        kind,
        "--url", url,
        "--run", config.tag,
        "--sessions", str(config.sessions),
        "--loops", str(config.loops),
        "--results", str(results),
        "--result-timeout", str(config.result_timeout),
        "--stream-factor", str(config.stream_factor),
    )  # fmt: skip
    if kind == "direct":
        for prop in config.properties:
            args += ["--property", prop]
    return await start(kind, args, directory / f"{kind}.log"), results


async def start_services(
    config: RunConfig, directory: Path, children: list[Child]
) -> tuple[Child, str, Child, str]:
    """The local Speech service, then the shim in front of it (both appended to children)."""
    scenarios = str(directory / "scenarios")
    emulator, emulator_url = await start_service(
        "emulator",
        python_module("shim", "--log-level", "WARNING", "emulator", "--scenario-dir", scenarios),
        directory / "emulator.log",
    )
    children.append(emulator)
    args = ["serve", "--port", "0", "--speech-host", emulator_url, "--auth", "passthrough"]
    args += ["--idle-timeout", "600", "--drain-timeout", "5"]
    for prop in config.properties:
        args += ["--sdk-property", prop]
    shim, shim_url = await start_service(
        "shim", python_module("shim", *args), directory / "shim.log"
    )
    children.append(shim)
    return emulator, emulator_url, shim, shim_url


async def run_once(config: RunConfig, directory: Path) -> dict[str, Any]:
    """One measured run: a fresh local Speech service, shim and client workers."""
    write_scenarios(config, directory / "scenarios")
    children: list[Child] = []
    exits: dict[str, int] = {}
    try:
        emulator, emulator_url, shim, shim_url = await start_services(config, directory, children)
        result = await measure(config, directory, emulator, shim, shim_url, emulator_url, children)
        started = time.monotonic()
        exits["shim"] = await shim.stop(SHIM_EXIT_TIMEOUT)
        result["shim_exit"] = {
            "code": exits["shim"],
            "seconds": round(time.monotonic() - started, 1),
        }
        return result
    finally:
        for child in reversed(children):
            if child.name not in exits:
                exits[child.name] = await child.stop(SHIM_EXIT_TIMEOUT)
        print(f"  exit codes: {exits}", flush=True)


async def measure(
    config: RunConfig,
    directory: Path,
    emulator: Child,
    shim: Child,
    shim_url: str,
    emulator_url: str,
    children: list[Child],
) -> dict[str, Any]:
    await asyncio.sleep(1.0)  # let the shim finish starting before its idle figures
    shim_idle = _snapshot(shim)
    legacy, legacy_results = await start_worker("legacy", shim_url, config, directory)
    direct, direct_results = await start_worker("direct", emulator_url, config, directory)
    children += [legacy, direct]
    workers = Workers(legacy, direct, {"shim": legacy_results, "direct": direct_results})
    await workers.event("loaded", 60)
    direct_idle = _snapshot(direct)
    await workers.send("setup")
    ready = await workers.event("ready", 60 + config.sessions)
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(sample({"shim": shim.ps, "direct": direct.ps}, stop_sampling))
    foreign = ForeignLoad([psutil.Process(), *(child.ps for child in children)])
    windows, t0 = await stream(config, workers, shim, emulator)
    foreign_cores = foreign.cores()
    records = await _results(config, workers)
    teardown = await _teardown(config, workers)
    stop_sampling.set()
    usage = await sampler
    shim_settle = await settle_threads(shim.ps, shim_idle["threads"])
    shim_after = _snapshot(shim)
    return {
        "config": {
            "sessions": config.sessions,
            "polling_ms": config.polling_ms,
            "audio_seconds_per_session": config.plan.audio_seconds,
            "utterances_per_session": len(config.plan.utterances(0)),
        },
        "setup_seconds": {"shim": ready[0]["setup_seconds"], "direct": ready[1]["setup_seconds"]},
        "teardown": teardown,
        "other_processes_cores": round(foreign_cores, 2),
        **_latency_section(config, records, t0),
        "cpu": {
            **cpu_report(windows["shim"], windows["direct"]),
            "emulator_cpu_seconds": round(windows["emulator"].cpu_seconds, 3),
            "legacy_clients_cpu_seconds": round(windows["legacy"].cpu_seconds, 3),
        },
        "memory": _memory(config, shim_idle, direct_idle, usage),
        "threads": {
            "shim_idle": shim_idle["threads"],
            "shim_peak": usage["shim"].threads_peak,
            "shim_after": shim_after["threads"],
            "shim_settle_seconds": round(shim_settle, 1),
            "direct_idle": direct_idle["threads"],
            "direct_peak": usage["direct"].threads_peak,
        },
    }


async def stream(
    config: RunConfig, workers: Workers, shim: Child, emulator: Child
) -> tuple[dict[str, CpuWindow], float]:
    """Start both sides at the same instant; CPU of each process over its side's window."""
    t0 = time.monotonic() + START_DELAY
    await workers.send(f"go {t0!r}")
    await asyncio.sleep(max(0.0, t0 - time.monotonic()))
    measured = (shim, workers.direct, emulator, workers.legacy)
    at_start = {child.name: cpu_seconds(child.ps) for child in measured}
    timeout = config.plan.audio_seconds * config.stream_factor + 30
    shim_side, direct_side = await asyncio.gather(
        _window(workers.legacy, [shim, workers.legacy, emulator], at_start, t0, timeout),
        _window(workers.direct, [workers.direct], at_start, t0, timeout),
    )
    return {**shim_side, **direct_side}, t0


async def _results(config: RunConfig, workers: Workers) -> dict[str, list[dict[str, Any]] | None]:
    """Each side's client records; None for a worker too starved to report in time."""
    timeout = config.result_timeout + 30 + config.sessions * 0.3

    async def one(worker: Child, path: Path) -> list[dict[str, Any]] | None:
        try:
            await worker.event("results", timeout)
        except RuntimeError as error:
            print(f"  {worker.name}: no results: {error}", flush=True)
            return None
        records: list[dict[str, Any]] = json.loads(path.read_text())
        return records

    shim, direct = await asyncio.gather(
        one(workers.legacy, workers.results["shim"]),
        one(workers.direct, workers.results["direct"]),
    )
    return {"shim": shim, "direct": direct}


async def _teardown(config: RunConfig, workers: Workers) -> dict[str, float | None]:
    """Seconds each worker took to shut its sessions down (None: gave up waiting)."""
    timeout = 30 + config.sessions * 0.1

    async def one(worker: Child) -> float | None:
        started = time.monotonic()
        try:
            await worker.event("done", timeout)
        except RuntimeError as error:
            print(f"  {worker.name}: {error}", flush=True)
            return None
        return round(time.monotonic() - started, 1)

    legacy, direct = await asyncio.gather(one(workers.legacy), one(workers.direct))
    return {"legacy_clients": legacy, "direct_sdk": direct}


def _snapshot(child: Child) -> dict[str, Any]:
    return {"rss": child.ps.memory_info().rss, "threads": child.ps.num_threads()}


async def _window(
    worker: Child, measured: list[Child], at_start: dict[str, float], t0: float, timeout: float
) -> dict[str, CpuWindow]:
    """CPU of ``measured`` from the first chunk to ``worker``'s last chunk."""
    event = await worker.event("streamed", timeout)
    wall = float(event["at"]) - t0
    audio = int(event["chunks"]) * CHUNK_SECONDS
    return {
        child.name: CpuWindow(cpu_seconds(child.ps) - at_start[child.name], wall, audio)
        for child in measured
    }


def _latency_section(
    config: RunConfig, records: dict[str, list[dict[str, Any]] | None], t0: float
) -> dict[str, Any]:
    shim = side_latencies(config.plan, records["shim"], t0)
    direct = side_latencies(config.plan, records["direct"], t0)
    return {
        "latency": {"shim": side_report(shim), "direct_sdk": side_report(direct)},
        "added_latency_ms": added_latency(shim, direct),
    }


def _memory(
    config: RunConfig, shim_idle: dict[str, Any], direct_idle: dict[str, Any], usage: Any
) -> dict[str, Any]:
    mb = 1 << 20
    return {
        "shim_idle_mb": round(shim_idle["rss"] / mb, 1),
        "shim_peak_mb": round(usage["shim"].rss_peak / mb, 1),
        "shim_mb_per_session": rss_per_session_mb(
            shim_idle["rss"], usage["shim"].rss_peak, config.sessions
        ),
        "direct_idle_mb": round(direct_idle["rss"] / mb, 1),
        "direct_peak_mb": round(usage["direct"].rss_peak / mb, 1),
        "direct_mb_per_session": rss_per_session_mb(
            direct_idle["rss"], usage["direct"].rss_peak, config.sessions
        ),
    }


def machine_facts() -> dict[str, Any]:
    import os
    import platform

    import aiohttp
    import azure.cognitiveservices.speech as speechsdk

    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    meminfo = Path("/proc/meminfo").read_text().split()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gb": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / (1 << 20), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "speech_sdk": speechsdk.__version__,
        "aiohttp": aiohttp.__version__,
    }


async def run_all(configs: Sequence[RunConfig], base: Path) -> list[dict[str, Any]]:
    """Every run in turn; its logs, scenarios and raw client records stay under ``base``."""
    runs = []
    for config in configs:
        print(f"run {config.tag}: {config.plan.audio_seconds:.1f} s of audio", flush=True)
        others = await wait_for_quiet(QUIET_CORES, QUIET_WAIT)
        started = time.monotonic()
        try:
            result = await run_once(config, base / config.tag)
        except RuntimeError as error:  # reported, and the other runs still happen
            print(f"  run {config.tag} failed: {error}", flush=True)
            result = {"config": asdict(config), "error": str(error)[-3000:]}
        result["wall_seconds"] = round(time.monotonic() - started, 1)
        result["other_processes_cores_before"] = round(others, 2)
        print(overhead_doc.one_line(result), flush=True)
        runs.append(result)
    return runs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.shim_overhead", description=__doc__)
    parser.add_argument("--sessions", default="1,10,30", help="comma list of N (1,10,30)")
    parser.add_argument(
        "--fast-polling-sessions",
        default="1,30",
        help=f"N also measured with {POLLING_PROPERTY}=1 on both sides ('' for none; 1,30)",
    )
    parser.add_argument("--loops", type=int, default=2, help="passes over the recording (2)")
    parser.add_argument(
        "--result-timeout", type=float, default=30.0, help="wait for late finals, s (30)"
    )
    parser.add_argument(
        "--stream-factor",
        type=float,
        default=2.0,
        help="bound: clients stop sending at this multiple of real time (2)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="REPORT.json",
        help="only rewrite --out from a saved report (no measuring)",
    )
    parser.add_argument("--out", type=Path, help="markdown file to update (its own section)")
    return parser.parse_args(argv)


def _numbers(text: str) -> list[int]:
    return [int(item) for item in text.split(",") if item.strip()]


def configs_from(args: argparse.Namespace) -> list[RunConfig]:
    plan: list[tuple[int, int | None]] = [(n, None) for n in _numbers(args.sessions)]
    plan += [(n, 1) for n in _numbers(args.fast_polling_sessions)]
    return [
        RunConfig(n, polling, args.loops, args.result_timeout, args.stream_factor)
        for n, polling in plan
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        if not args.out:
            raise SystemExit("--render needs --out")
        report = json.loads(args.render.read_text())
        overhead_doc.update(args.out, overhead_doc.section(report, args.render))
        print(f"updated {args.out}")
        return 0
    command = ".venv/bin/python -m bench.shim_overhead " + shlex.join(sys.argv[1:])
    started = dt.datetime.now(dt.UTC)
    stamp = f"shim_overhead-{started:%Y%m%dT%H%M%SZ}"
    runs = asyncio.run(run_all(configs_from(args), RESULTS / stamp))
    report = {
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "recording": overhead_doc.RECORDING_NOTE,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = RESULTS / f"{stamp}.json"
    raw.write_text(json.dumps(report, indent=1))
    print(f"raw results: {raw.relative_to(ROOT)}")
    if args.out:
        overhead_doc.update(args.out, overhead_doc.section(report, raw.relative_to(ROOT)))
        print(f"updated {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
