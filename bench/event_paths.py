"""CPU per SDK event of the bridge's two event paths (fast: native reads; public: SDK API).

    .venv/bin/python -m bench.event_paths --sessions 30 --repeat 3

One local Speech service; for each repeat, one worker process per path (order alternating)
runs N ``SpeechSession``s (the shim's bridge, nothing else: no legacy protocol, no
WebSockets to clients) streaming the benchmark recording at real time with partials, and
measures its own CPU (user + system, all threads) from the first chunk until every session
has stopped. Same scenarios, same audio, same pacing: the difference between the paths'
CPU divided by the events is what reading one event costs more on the public path. The
service's own CPU in each window is reported too. Not a test: figures go to
docs/performance.md. Raw results: bench/results/event-paths-<time>.json (gitignored).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.overhead_plan import (
    ROOT,
    SOURCE_LOCALE,
    TARGET_LANGUAGE,
    Plan,
    load_chunks,
    session_key,
)
from bench.processes import Child, cpu_seconds, start, start_service

RESULTS = ROOT / "bench" / "results"
PATHS = ("fast", "public")
CONNECT_CONCURRENCY = 16


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---- worker: N bridge sessions with one event path -----------------------------------------


async def worker(args: argparse.Namespace) -> None:
    from shim.server.app import LOCAL_PROPERTIES
    from shim.speech.bridge import Backend, SessionOptions, SpeechSession
    from shim.speech.events import BridgeEvent, Recognized, Stopped
    from shim.speech.path_choice import choose_event_path
    from shim.speech.runtime import SpeechRuntime

    path = choose_event_path(args.path)
    reading = _time_readers()
    if path.name.value != args.path:
        raise SystemExit(f"asked for the {args.path} path, got {path.describe()}")
    plan = Plan(args.sessions, args.loops)
    chunks = load_chunks(plan)
    counts: collections.Counter[str] = collections.Counter()
    finals = [0] * plan.sessions
    stopped = [asyncio.Event() for _ in range(plan.sessions)]
    runtime = SpeechRuntime()

    def sink_for(index: int) -> Any:
        def sink(event: BridgeEvent, at: float) -> None:
            counts[type(event).__name__] += 1
            if isinstance(event, Recognized) and event.matched:
                finals[index] += 1
            elif isinstance(event, Stopped):
                stopped[index].set()

        return sink

    sessions = [
        SpeechSession(
            Backend(key=session_key(args.run, i), host=args.url, properties=LOCAL_PROPERTIES),
            SessionOptions(SOURCE_LOCALE, TARGET_LANGUAGE, None, "Masked"),
            sink_for(i),
            runtime=runtime,
            events=path,
        )
        for i in range(plan.sessions)
    ]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def start_one(session: SpeechSession) -> None:
        async with gate:
            await session.start()

    await asyncio.gather(*(start_one(s) for s in sessions))
    emit("ready", path=path.describe())
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    t0 = float(line.split()[1])
    cpu0, wall0 = _cpu(), time.monotonic()

    async def stream(index: int, session: SpeechSession) -> None:
        for due, chunk in zip(plan.schedule(index, t0), chunks, strict=True):
            delay = t0 + (due - t0) / args.speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            session.write(chunk)
        session.end_audio()
        await asyncio.wait_for(stopped[index].wait(), 60.0)

    await asyncio.gather(*(stream(i, s) for i, s in enumerate(sessions)))
    cpu, wall = _cpu() - cpu0, time.monotonic() - wall0
    expected = [len(plan.utterances(i)) for i in range(plan.sessions)]
    emit(
        "result",
        cpu_seconds=round(cpu, 3),
        wall_seconds=round(wall, 3),
        events=dict(counts),
        all_finals=finals == expected,
        reader_cpu_ms_per_result=round(1000 * reading[0] / max(1, reading[1]), 4),
    )
    await asyncio.gather(*(s.close() for s in sessions))
    await runtime.close()
    emit("done")


def _time_readers() -> list[float]:
    """Wrap what turns one recognizing/recognized event into a bridge event, on each path,
    with a per-thread CPU clock: [CPU seconds, results]. Public: the SDK's event-args object
    (its full result) plus our conversion; fast: the native field reads."""
    import azure.cognitiveservices.speech.translation as translation

    from shim.speech import native_events, public_events

    totals = [0.0, 0.0]

    def timed(function: Any, counted: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                if counted(*args):
                    totals[0] += time.thread_time() - started
                    totals[1] += 1

        return wrapper

    def is_result(signal: str, *_: Any) -> bool:
        return signal in ("recognizing", "recognized")

    native_events._read = timed(native_events._read, is_result)
    args_init = translation.TranslationRecognitionEventArgs.__init__
    public_convert = public_events.convert

    # The public path: the SDK's args object and our conversion, timed together per event.
    pending = threading.local()

    def args_timed(self: Any, handle: Any) -> None:
        started = time.thread_time()
        args_init(self, handle)
        pending.cpu = time.thread_time() - started

    def convert_timed(signal: str, args: Any, target: str) -> Any:
        started = time.thread_time()
        try:
            return public_convert(signal, args, target)
        finally:
            if is_result(signal):
                totals[0] += getattr(pending, "cpu", 0.0) + time.thread_time() - started
                totals[1] += 1

    translation.TranslationRecognitionEventArgs.__init__ = args_timed  # type: ignore[method-assign]
    public_events.convert = convert_timed
    return totals


# ---- the benchmark -------------------------------------------------------------------------


async def run_one(
    args: argparse.Namespace, url: str, service: Child, path: str, folder: Path
) -> dict[str, Any]:
    child = await start(
        f"worker-{path}",
        [
            sys.executable,
            "-m",
            "bench.event_paths",
            "worker",
            "--path",
            path,
            "--url",
            url,
            "--run",
            args.run,
            "--sessions",
            str(args.sessions),
            "--loops",
            str(args.loops),
            "--speed",
            str(args.speed),
        ],
        folder / f"worker-{path}.log",
    )
    try:
        ready = await child.event("ready", 120.0)
        service_cpu0 = cpu_seconds(service.ps)
        await child.send(f"go {time.monotonic() + 0.5}")
        result = await child.event("result", 600.0)
        service_cpu = cpu_seconds(service.ps) - service_cpu0
        await child.event("done", 120.0)
    finally:
        await child.stop()
    events = result["events"]
    per_event = events.get("Recognizing", 0) + events.get("Recognized", 0)
    return {
        "path": path,
        "described": ready["path"],
        **result,
        "results_read": per_event,
        "cpu_ms_per_result": round(1000 * result["cpu_seconds"] / max(1, per_event), 4),
        "service_cpu_seconds": round(service_cpu, 3),
        "service_cpu_ms_per_session_second": round(
            1000 * service_cpu / (args.sessions * result["wall_seconds"]), 3
        ),
    }


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="event-paths-"))
    scenarios = folder / "scenarios"
    scenarios.mkdir()
    plan = Plan(args.sessions, args.loops)
    for i in range(plan.sessions):
        (scenarios / f"{session_key(args.run, i)}.json").write_text(json.dumps(plan.scenario(i)))
    service, url = await start_service(
        "service",
        [sys.executable, "-m", "shim", "emulator", "--scenario-dir", str(scenarios)],
        folder / "service.log",
    )
    runs = []
    try:
        for repeat in range(args.repeat):
            order = PATHS if repeat % 2 == 0 else PATHS[::-1]
            for path in order:
                run = await run_one(args, url, service, path, folder)
                print(json.dumps(run), file=sys.stderr, flush=True)
                runs.append(run)
    finally:
        await service.stop()
    return {"folder": str(folder), "runs": runs, "summary": summarize(runs, args.sessions)}


def summarize(runs: Sequence[dict[str, Any]], sessions: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for path in PATHS:
        mine = [r for r in runs if r["path"] == path]
        cpu = sorted(r["cpu_seconds"] for r in mine)
        results = sum(r["results_read"] for r in mine) / len(mine)
        summary[path] = {
            "cpu_seconds_median": cpu[len(cpu) // 2],
            "results_per_run": results,
            "cpu_ms_per_result_median": sorted(r["cpu_ms_per_result"] for r in mine)[
                len(mine) // 2
            ],
            "all_finals_every_run": all(r["all_finals"] for r in mine),
            "reader_cpu_ms_per_result_median": sorted(r["reader_cpu_ms_per_result"] for r in mine)[
                len(mine) // 2
            ],
        }
    fast, public = summary["fast"], summary["public"]
    summary["saved_ms_per_result"] = round(
        1000
        * (public["cpu_seconds_median"] - fast["cpu_seconds_median"])
        / max(1.0, fast["results_per_run"]),
        4,
    )
    summary["fast_over_public_cpu"] = round(
        fast["cpu_seconds_median"] / max(1e-9, public["cpu_seconds_median"]), 3
    )
    service = sorted(r["service_cpu_ms_per_session_second"] for r in runs)
    summary["service_cpu_ms_per_session_second_median"] = service[len(service) // 2]
    summary["sessions"] = sessions
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.event_paths")
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "worker"])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--loops", type=int, default=1, help="passes over the recording")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path")
    parser.add_argument("--speed", type=float, default=1.0, help="x real time")
    parser.add_argument("--path", choices=PATHS, default="fast")
    parser.add_argument("--url")
    parser.add_argument("--run", default="ep")
    args = parser.parse_args(argv)
    if args.mode == "worker":
        asyncio.run(worker(args))
        return 0
    report = asyncio.run(benchmark(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"event-paths-{stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["summary"], indent=2))
    print(f"raw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
