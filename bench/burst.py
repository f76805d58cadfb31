"""A burst of arrivals: N legacy sessions starting within a fraction of a second.

Each client connects at its moment in the spread, then streams a real recording in real time
(100 ms chunks every 100 ms: the 46-byte header, the audio, 1 s of silence) and closes. A
final's latency is from the moment the chunk that completes its utterance was sent to the
moment the final arrived. The server runs in front of the scripted local Speech service, so
what is measured is the server (edge, session core, SDK bridge), not recognition.

    python -m bench.burst [--sessions 200] [--spread 0.1] [--write-docs]

With ``--write-docs`` the results replace the "Bursts of arrivals" section of
docs/performance.md (notes kept). Run it under ``flock /tmp/shim-suite.lock`` on a shared
machine, as the figures there were.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import psutil  # type: ignore[import-untyped]

from bench.docsection import replace_section
from bench.overhead_plan import AUDIO, ROOT
from bench.processes import start_service

RECORDING = "en-US_whatstheweatherlike.wav"
UTTERANCE_END_MS = 1_300  # the scenario's one utterance: 100 ms to 1,300 ms
SCENARIO = {
    "utterances": [{"offset_ms": 100, "duration_ms": 1200, "text": "What's the weather like?"}]
}
CHUNK = 3_200  # 100 ms of 16 kHz 16-bit mono
HEADER = b"RIFF\0\0\0\0WAVEfmt \x12\0\0\0\x01\0\x01\0\x80>\0\0\0}\0\0\x02\0\x10\0\0\0data\0\0\0\0"


def _pcm() -> bytes:
    with wave.open(str(AUDIO / RECORDING)) as wav:
        return wav.readframes(wav.getnframes()) + bytes(32_000)


async def _client(url: str, key: str, start_at: float, pcm: bytes) -> dict[str, Any]:
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    result: dict[str, Any] = {"latencies": [], "close": None, "error": None}
    sent_end: float | None = None
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(
                url + "/speech/translate",
                params={"api-version": "1.0", "from": "en-US", "to": "de"},
                headers={"Ocp-Apim-Subscription-Key": key},
                autoclose=False,
            ) as ws,
        ):
            result["connected"] = time.monotonic() - start_at

            async def receive() -> None:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        if json.loads(message.data)["type"] == "final" and sent_end is not None:
                            result["latencies"].append(time.monotonic() - sent_end)
                    elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING):
                        break

            receiver = asyncio.create_task(receive())
            await ws.send_bytes(HEADER)
            began = time.monotonic()
            for index in range(0, len(pcm), CHUNK):
                await asyncio.sleep(max(0.0, began + index / 32_000 - time.monotonic()))
                await ws.send_bytes(pcm[index : index + CHUNK])
                if sent_end is None and index + CHUNK >= UTTERANCE_END_MS * 32:
                    sent_end = time.monotonic()
            await ws.close()
            await asyncio.wait_for(receiver, 30)
            result["close"] = ws.close_code
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    return result


def _percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(sessions: int, spread: float) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    scenarios = directory / "scenarios"
    scenarios.mkdir()
    (scenarios / "burst.json").write_text(json.dumps(SCENARIO))
    python = [str(ROOT / ".venv/bin/python"), "-m", "shim"]
    emulator, emulator_url = await start_service(
        "emulator",
        [*python, "emulator", "--port", "0", "--scenario-dir", str(scenarios)],
        directory / "emulator.log",
    )
    shim, url = await start_service(
        "shim",
        [*python, "serve", "--port", "0", "--speech-host", emulator_url, "--auth", "passthrough"],
        directory / "shim.log",
    )
    try:
        pcm = _pcm()
        own = psutil.Process()
        before = [p.cpu_times() for p in (shim.ps, emulator.ps, own)]
        machine_before = psutil.cpu_times()
        began = time.monotonic() + 0.5
        results = await asyncio.gather(
            *(_client(url, "burst", began + spread * i / sessions, pcm) for i in range(sessions))
        )
        wall = time.monotonic() - began
        after = [p.cpu_times() for p in (shim.ps, emulator.ps, own)]
        machine_after = psutil.cpu_times()
    finally:
        await shim.stop()
        await emulator.stop()
    latencies = [value for r in results for value in r["latencies"]]
    connects = [r["connected"] for r in results if "connected" in r]
    used = [(a.user + a.system) - (b.user + b.system) for a, b in zip(after, before, strict=True)]
    idle = machine_after.idle - machine_before.idle
    return {
        "sessions": sessions,
        "spread_s": spread,
        "finals": len(latencies),
        "sessions_without_final": sum(1 for r in results if not r["latencies"]),
        "errors": [r["error"] for r in results if r["error"]][:5],
        "closes": {
            str(c): sum(1 for r in results if r["close"] == c)
            for c in {r["close"] for r in results}
        },
        "final_latency_s": {
            "p50": _percentile(latencies, 0.5),
            "p99": _percentile(latencies, 0.99),
            "max": max(latencies) if latencies else None,
        },
        "connect_s": {"p50": _percentile(connects, 0.5), "p99": _percentile(connects, 0.99)},
        "server_cores": round(used[0] / wall, 2),
        "service_cores": round(used[1] / wall, 2),
        "client_cores": round(used[2] / wall, 2),
        "machine_idle_cores": round(idle / wall, 2),
        "cpus": os.cpu_count(),
        "log_dir": str(directory),
    }


def markdown(report: dict[str, Any]) -> str:
    latency, connect = report["final_latency_s"], report["connect_s"]

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 1000:.0f} ms"

    return "\n".join(
        [
            "## Bursts of arrivals",
            "",
            "Run with `flock /tmp/shim-suite.lock .venv/bin/python -m bench.burst --write-docs`"
            " (`bench/burst.py`).",
            "",
            f"{report['sessions']} sessions arriving within {report['spread_s'] * 1000:.0f} ms,"
            f" each streaming {RECORDING} in real time ({report['cpus']} cores, scripted"
            " local Speech service in its own process, all clients in one process):",
            "",
            "| finals | sessions without a final | closes | final latency p50 / p99 / max |"
            " connect p50 / p99 | CPU: server, local service, clients, idle (cores) |",
            "|---|---|---|---|---|---|",
            f"| {report['finals']} | {report['sessions_without_final']} | {report['closes']} |"
            f" {ms(latency['p50'])} / {ms(latency['p99'])} / {ms(latency['max'])} |"
            f" {ms(connect['p50'])} / {ms(connect['p99'])} | {report['server_cores']},"
            f" {report['service_cores']}, {report['client_cores']},"
            f" {report['machine_idle_cores']} |",
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--spread", type=float, default=0.1, help="seconds over which they arrive")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.sessions, args.spread))
    print(json.dumps(report, indent=2))
    text = markdown(report)
    print(text)
    if args.write_docs:
        replace_section(ROOT / "docs" / "performance.md", "## Bursts of arrivals", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
