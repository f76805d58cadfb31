"""How many real-time sessions one machine keeps up with: direct Speech SDK clients, or the
drop-in server in front of the same SDK (each SDK event path, one or two workers).

    .venv/bin/python -m bench.capacity --out docs/performance.md

Each *side* runs alone against a fresh scripted local Speech service (so it has the machine to
itself): ``direct`` is N ``TranslationRecognizer`` clients in one process, configured as the
shim configures its own; ``shim-fast``, ``shim-public`` and ``shim-workers2`` are N legacy
clients (one process) through ``serve`` with ``--sdk-events fast``, ``--sdk-events public`` or
``--workers 2``. For every side, with and without text-to-speech (espeak-ng in the service),
N climbs the ladder until a run no longer keeps real time (a final or a TTS message
missing, wrong or extra, final p99 over 1 s, the clients unable to send on time, or a client
error); the largest N that did is the side's capacity. At the ``--cpu-at`` sizes (30 and 50)
each side's CPU per second of audio is measured in the same invocation, with the local
service's own CPU beside it (its espeak-ng child processes included). A shared machine's
speed drifts by ±10 % over minutes, so ``--cpu-rounds`` more rounds (default 2) run
``direct`` and ``shim-fast`` back to back at those sizes, in alternating order, and the
report gives the median of the per-round ratios.
Not a test: figures depend on the machine; compare ratios measured in one invocation.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench.docsection import replace_section
from bench.overhead_plan import CHUNK_SECONDS, ROOT, Plan, session_key
from bench.overhead_stats import side_latencies, side_report
from bench.processes import Child, ForeignLoad, start, start_service, wait_for_quiet

RESULTS = ROOT / "bench" / "results"
SIDES = ("direct", "shim-fast", "shim-public", "shim-workers2")
P99_LIMIT_MS = 1000.0
SEND_LAG_LIMIT_MS = 100.0
QUIET_CORES, QUIET_WAIT = 0.2, 60.0
SECTION = "## Capacity"


@dataclass(frozen=True)
class Run:
    side: str
    sessions: int
    tts: bool
    loops: int

    @property
    def tag(self) -> str:
        return f"{self.side}-n{self.sessions}-{'tts' if self.tts else 'text'}"

    @property
    def plan(self) -> Plan:
        return Plan(self.sessions, self.loops)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def tree_cpu(ps: psutil.Process) -> float:
    """CPU-seconds of a process, its live children (a supervisor's workers) and the children
    it has waited for (espeak-ng runs in the local Speech service)."""
    times = ps.cpu_times()
    total = float(times.user + times.system + times.children_user + times.children_system)
    for child in ps.children(recursive=True):
        try:
            child_times = child.cpu_times()
        except psutil.Error:
            continue
        total += float(child_times.user + child_times.system)
    return total


def _descendants(children: Sequence[Child]) -> list[psutil.Process]:
    found = []
    for child in children:
        try:
            found += child.ps.children(recursive=True)
        except psutil.Error:
            continue
    return found


async def _start_side(run: Run, service_url: str, directory: Path) -> tuple[Child | None, str]:
    """The shim for a shim side (None and the service's URL for the direct side)."""
    if run.side == "direct":
        return None, service_url
    args = ["--log-level", "WARNING", "serve", "--port", "0", "--speech-host", service_url]
    args += ["--auth", "passthrough", "--idle-timeout", "600", "--drain-timeout", "5"]
    if run.side == "shim-workers2":
        args += ["--workers", "2"]
    else:
        args += ["--sdk-events", run.side.removeprefix("shim-")]
    return await start_service("shim", python_module("shim", *args), directory / "shim.log")


async def run_once(run: Run, directory: Path) -> dict[str, Any]:
    scenarios = directory / "scenarios"
    scenarios.mkdir(parents=True)
    for session in range(run.sessions):
        document = run.plan.scenario(session, "espeak" if run.tts else None)
        (scenarios / f"{session_key(run.tag, session)}.json").write_text(json.dumps(document))
    children: list[Child] = []
    try:
        service, service_url = await start_service(
            "service",
            python_module(
                "shim", "--log-level", "WARNING", "emulator", "--scenario-dir", str(scenarios)
            ),
            directory / "service.log",
        )
        children.append(service)
        shim, url = await _start_side(run, service_url, directory)
        if shim is not None:
            children.append(shim)
        kind = "direct" if shim is None else "legacy"
        results = directory / "records.json"
        client_args = ["--url", url, "--run", run.tag, "--sessions", str(run.sessions)]
        client_args += ["--loops", str(run.loops), "--results", str(results)]
        client_args += ["--result-timeout", "20", "--stream-factor", "1.5"]
        if run.tts:
            client_args.append("--tts")
        clients = await start(
            "clients",
            python_module("bench.overhead_clients", kind, *client_args),
            directory / "clients.log",
        )
        children.append(clients)
        measured = shim or clients  # the direct side's SDK work is in its client process
        await clients.event("loaded", 60)
        await clients.send("setup")
        await clients.event("ready", 60 + run.sessions)
        foreign = ForeignLoad(
            [psutil.Process(), *(c.ps for c in children), *_descendants(children)]
        )
        t0 = time.monotonic() + 0.5
        await clients.send(f"go {t0!r}")
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        side0, service0 = tree_cpu(measured.ps), tree_cpu(service.ps)
        streamed = await clients.event("streamed", run.plan.audio_seconds * 1.5 + 60)
        side_cpu = tree_cpu(measured.ps) - side0
        service_cpu = tree_cpu(service.ps) - service0
        others = foreign.cores()
        wall = float(streamed["at"]) - t0
        audio = int(streamed["chunks"]) * CHUNK_SECONDS
        await clients.event("results", 50 + run.sessions * 0.3)
        records = json.loads(results.read_text())
        await clients.event("done", 60 + run.sessions * 0.2)
        latency = side_report(side_latencies(run.plan, records, t0))
        tts_expected = sum(len(run.plan.utterances(s)) for s in range(run.sessions))
        tts_received = sum(r["audio_messages"] for r in records) if run.tts else None
        kept, why = _kept(latency, tts_expected, tts_received)
        return {
            "side": run.side,
            "sessions": run.sessions,
            "tts": run.tts,
            "kept_real_time": kept,
            "why_not": why,
            "latency": latency,
            "tts_messages": {"expected": tts_expected, "received": tts_received},
            "cpu": {
                "side_cpu_seconds": round(side_cpu, 3),
                "service_cpu_seconds": round(service_cpu, 3),
                "wall_seconds": round(wall, 3),
                "audio_seconds": round(audio, 1),
                "side_per_audio_second": side_cpu / audio if audio else None,
                "service_per_audio_second": service_cpu / audio if audio else None,
                "side_cores": round(side_cpu / wall, 3) if wall else None,
            },
            "other_processes_cores": round(others, 2),
        }
    finally:
        for child in reversed(children):
            await child.stop(30.0)


def _kept(latency: dict[str, Any], tts_expected: int, tts_received: int | None) -> tuple[bool, str]:
    problems = []
    lost = (
        latency["finals_missing"],
        latency["finals_wrong_text"],
        latency["utterances_not_reached"],
        latency["finals_extra"],
    )
    if any(lost):
        problems.append(
            f"finals missing {lost[0]}, wrong {lost[1]}, not reached {lost[2]}, extra {lost[3]}"
        )
    p99 = latency["latency_ms"]["p99"]
    if p99 is None or p99 > P99_LIMIT_MS:
        problems.append(f"final p99 {p99 if p99 is None else round(p99)} ms")
    lag = latency["send_lag_ms"]["p99"]
    if lag is None or lag > SEND_LAG_LIMIT_MS:
        problems.append(f"client send lag p99 {lag if lag is None else round(lag)} ms")
    if tts_received is not None and tts_received != tts_expected:
        problems.append(f"TTS messages {tts_received}/{tts_expected}")
    if latency["error_count"]:
        problems.append(f"{latency['error_count']} client errors")
    return not problems, "; ".join(problems)


async def ladder(
    side: str, tts: bool, steps: Sequence[int], loops: int, base: Path, cpu_at: int
) -> list[dict[str, Any]]:
    """Climb N until a run falls behind (always going as far as ``cpu_at``, the largest N
    of the CPU comparison)."""
    runs = []
    for sessions in steps:
        run = Run(side, sessions, tts, loops)
        others = await wait_for_quiet(QUIET_CORES, QUIET_WAIT)
        print(f"run {run.tag} (others busy {others:.2f} cores before)", flush=True)
        try:
            result = await run_once(run, base / run.tag)
        except RuntimeError as error:
            result = {
                "side": side,
                "sessions": sessions,
                "tts": tts,
                "kept_real_time": False,
                "why_not": f"run failed: {str(error)[-300:]}",
            }
        print(f"  kept real time: {result['kept_real_time']} {result['why_not']}", flush=True)
        runs.append(result)
        if not result["kept_real_time"] and sessions >= cpu_at:
            break
    return runs


async def cpu_rounds(
    sides: Sequence[str], sizes: Sequence[int], rounds: int, loops: int, base: Path
) -> list[dict[str, Any]]:
    """Extra paired runs of the CPU comparison (text, partials): per round and N, ``direct``
    and every other side back to back, the order alternating between rounds, so that a
    ratio compares runs minutes apart, not a ladder apart."""
    runs = []
    for number in range(1, rounds + 1):
        for sessions in sizes:
            order = list(sides) if number % 2 else list(reversed(sides))
            for side in order:
                run = Run(side, sessions, False, loops)
                others = await wait_for_quiet(QUIET_CORES, QUIET_WAIT)
                print(f"cpu round {number}: {run.tag} (others {others:.2f} cores)", flush=True)
                try:
                    result = await run_once(run, base / f"{run.tag}-round{number}")
                except RuntimeError as error:
                    print(f"  failed: {str(error)[-300:]}", flush=True)
                    continue
                runs.append({**result, "round": number})
    return runs


def _shown(run: dict[str, Any] | None, text: str) -> str:
    """A figure, in italics when its run did not keep real time."""
    return text if run is None or run["kept_real_time"] else f"*{text}*"


def cpu_table(runs: Sequence[dict[str, Any]], sides: Sequence[str]) -> list[str]:
    """The paired rounds as markdown: per N, each side's CPU per audio-second and its ratio
    to ``direct`` in the same round; the median ratio over the rounds."""
    others = [side for side in sides if side != "direct"]
    lines = [
        "CPU per audio-second in paired rounds (text with partials; one round = the sides"
        " back to back at one N; *italics*: a run that did not keep real time):",
        "",
        "| N | round | direct | " + " | ".join(f"{side} (vs direct)" for side in others) + " |",
        "|---|---|---" + "|---" * len(others) + "|",
    ]
    cells: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for run in runs:
        cells.setdefault((run["sessions"], run["round"]), {})[run["side"]] = run
    ratios: dict[tuple[int, str], list[float]] = {}
    for (sessions, number), by_side in sorted(cells.items()):
        direct = by_side.get("direct")
        base = direct["cpu"]["side_per_audio_second"] if direct else None
        row = f"| {sessions} | {number} | {_shown(direct, _cell(base))}"
        for side in others:
            run = by_side.get(side)
            per = run["cpu"]["side_per_audio_second"] if run else None
            text = _cell(per)
            if per and base:
                text += f" ({per / base:.2f}×)"
                if direct and run and direct["kept_real_time"] and run["kept_real_time"]:
                    ratios.setdefault((sessions, side), []).append(per / base)
            row += f" | {_shown(run, text)}"
        lines.append(row + " |")
    lines.append("")
    for (sessions, side), values in sorted(ratios.items()):
        lines.append(
            f"- N={sessions}, {side}: median {statistics.median(values):.2f}× direct"
            f" ({min(values):.2f}–{max(values):.2f}) over {len(values)} rounds where both"
            " sides kept real time"
        )
    return lines


def summarize(runs: Sequence[dict[str, Any]], cpu_at: Sequence[int]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for run in runs:
        key = f"{run['side']}|{'tts' if run['tts'] else 'text'}"
        entry = table.setdefault(key, {"capacity": 0, "cpu": {}, "p99": {}, "kept": {}})
        if run["kept_real_time"]:
            entry["capacity"] = max(entry["capacity"], run["sessions"])
        if run["sessions"] in cpu_at and "cpu" in run:
            entry["cpu"][run["sessions"]] = run["cpu"]
            entry["p99"][run["sessions"]] = run["latency"]["latency_ms"]["p99"]
            entry["kept"][run["sessions"]] = run["kept_real_time"]
    return table


def _cell(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    table, cpu_at = report["summary"], report["cpu_at"]
    steps = ", ".join(map(str, report["ladder"]))
    header = f"| side | TTS | largest N that kept real time (ladder {steps})"
    rule = "|---|---|---"
    for n in cpu_at:
        header += f" | N={n}: CPU-s per audio-s (vs direct) | N={n}: final p99 ms"
        rule += "|---|---"
    header += f" | N={cpu_at[-1]}: local service CPU-s per audio-s |"
    rule += "|---|"
    lines = [
        SECTION,
        "",
        f"Generated by `{report['command']}` on {report['generated']}; raw results:"
        f" `{report['raw']}` (not committed). Method: the docstring of `bench/capacity.py`."
        " A figure in *italics* comes from a run that did not keep real time.",
        "",
        header,
        rule,
    ]
    for tts in ("text", "tts"):
        direct = table.get(f"direct|{tts}") or {"cpu": {}}
        for side in report["sides"]:
            entry = table.get(f"{side}|{tts}")
            if entry is None:
                continue
            capacity = entry["capacity"] or f"< {report['ladder'][0]}"
            row = f"| {side} | {'espeak-ng' if tts == 'tts' else 'no'} | {capacity}"
            for n in cpu_at:
                cpu = entry["cpu"].get(n)
                per = cpu.get("side_per_audio_second") if cpu else None
                base = (direct["cpu"].get(n) or {}).get("side_per_audio_second")
                ratio = f" ({per / base:.2f}×)" if per and base and side != "direct" else ""
                figure = "—" if per is None else f"{per:.4f}{ratio}"
                p99 = entry["p99"].get(n)
                late = not entry["kept"].get(n, True)
                if late and per is not None:
                    figure = f"*{figure}*"
                p99_text = "—" if p99 is None else (f"*{round(p99)}*" if late else str(round(p99)))
                row += f" | {figure} | {p99_text}"
            service = (entry["cpu"].get(cpu_at[-1]) or {}).get("service_per_audio_second")
            row += f" | {_cell(service)} |"
            lines.append(row)
    if report.get("cpu_rounds"):
        lines += ["", *cpu_table(report["cpu_rounds"], report["cpu_sides"])]
    failures = [
        f"- {r['side']} N={r['sessions']}{' with TTS' if r['tts'] else ''}: {r['why_not']}"
        for r in report["runs"]
        if not r["kept_real_time"]
    ]
    if failures:
        lines += ["", "Runs that did not keep real time (a ladder stops at its first):", ""]
        lines += failures
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> int:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = RESULTS / f"capacity-{stamp}"
    base.mkdir(parents=True)
    cpu_at = sorted(int(n) for n in args.cpu_at.split(","))
    steps = sorted({*(int(n) for n in args.ladder.split(",")), *cpu_at})
    sides = args.sides.split(",")
    runs = []
    for tts in [t == "on" for t in args.tts.split(",")]:
        for side in sides:
            runs += await ladder(side, tts, steps, args.loops, base, cpu_at[-1])
    cpu_sides = [side for side in ("direct", "shim-fast") if side in sides]
    rounds = await cpu_rounds(cpu_sides, cpu_at, args.cpu_rounds, args.loops, base)
    # The ladders' own runs at the CPU sizes are round 0 of the comparison.
    ladder_runs = [
        {**r, "round": 0}
        for r in runs
        if not r["tts"] and r["side"] in cpu_sides and r["sessions"] in cpu_at and "cpu" in r
    ]
    report = {
        "cpu_rounds": ladder_runs + rounds if rounds else [],
        "cpu_sides": cpu_sides,
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.capacity " + " ".join(sys.argv[1:]),
        "raw": str((base / "report.json").relative_to(ROOT)),
        "ladder": steps,
        "cpu_at": cpu_at,
        "sides": sides,
        "summary": summarize(runs, cpu_at),
        "runs": runs,
    }
    (base / "report.json").write_text(json.dumps(report, indent=1))
    print(markdown(report))
    if args.out:
        replace_section(args.out, SECTION, markdown(report))
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    parser.add_argument("--sides", default=",".join(SIDES), help="comma list of sides")
    parser.add_argument("--ladder", default="30,50,60,70,80,90,100", help="N values, ascending")
    parser.add_argument("--cpu-at", default="30,50", help="N values of the CPU comparison (30,50)")
    parser.add_argument("--tts", default="off,on", help="off, on, or off,on (default)")
    parser.add_argument("--loops", type=int, default=2, help="passes over the recording (2)")
    parser.add_argument(
        "--cpu-rounds",
        type=int,
        default=2,
        help="extra paired direct/shim-fast runs at each --cpu-at size (2; 0: none)",
    )
    parser.add_argument("--out", type=Path, help="markdown file whose Capacity section to update")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
