"""The scripted engine: deterministic results from a scenario, for tests and demos.

Utterances with ``offset_ms``/``duration_ms`` sit where the scenario says; the others are
placed, in order, on the speech segments an energy VAD finds in the real audio. Speech after
the last of those untimed utterances is unscripted: like speech the service cannot make out,
each such segment ends in a ``NoMatch`` phrase. A scenario without utterances answers each
segment with a visibly synthetic text instead. A final is
due when the received audio passes the utterance's end; partials (growing word prefixes,
with growing translations) while the audio passes through its span.

Per-session state (the VAD and the segments it found) is kept by ``X-ConnectionId``, which
the SDK keeps across reconnects: replayed audio is not analysed twice, and an utterance is
finalised again on a new connection only if the SDK had not acknowledged it yet (its end is
after the new turn's start), so every utterance reaches the client exactly once.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from shim.audiotime import BYTES_PER_SECOND, bytes_to_ticks, ticks_to_bytes
from shim.emulator import synthesis
from shim.emulator.engines.base import (
    Hypothesis,
    Phrase,
    Quiet,
    RecognitionEvent,
    SpeechStarted,
    StreamParams,
    Synthesis,
)
from shim.emulator.scenario import Scenario, Utterance
from shim.emulator.vad import EnergyVad, Segment

MAX_SESSIONS = 4096
NO_TEXT_STATUSES = {"NoMatch", "InitialSilenceTimeout", "BabbleTimeout", "Error"}
PARTIAL_STEP_BYTES = BYTES_PER_SECOND * 3 // 10  # untimed utterances reveal about a word per 300 ms


@dataclass
class _SessionAudio:
    vad: EnergyVad
    segments: list[Segment] = field(default_factory=list)
    analysed: int = 0  # bytes of the session's audio the VAD has seen


def _translation(utterance: Utterance, target: str) -> str:
    wanted = target.lower()
    for key, text in utterance.translations.items():
        if key.lower() == wanted:
            return text
    base = wanted.split("-")[0]
    for key, text in utterance.translations.items():
        if key.lower().split("-")[0] == base:
            return text
    return f"[{target}] {utterance.text}"


def _prefix(text: str, fraction: float) -> str:
    words = text.split()
    count = max(1, math.ceil(len(words) * fraction)) if words else 0
    return " ".join(words[:count])


def _stripped(text: str) -> str:
    """Hypotheses carry no final punctuation, as the service's don't."""
    return text.rstrip(".,;:!?。、？！")


class ScriptedStream:
    def __init__(self, engine: ScriptedEngine, params: StreamParams) -> None:
        self._scenario: Scenario = params.scenario
        self._audio = engine.session_audio(params)
        self._targets = params.targets
        self._turn_start = ticks_to_bytes(params.start_ticks)
        self._position = self._turn_start
        # No scenario utterances: every stretch of speech becomes a visibly synthetic one, so
        # the embedded default answers something real-looking to any audio.
        self._utterances = list(self._scenario.utterances)
        self._generated = not self._utterances
        order = sorted(
            range(len(self._utterances)),
            key=lambda i: self._utterances[i].offset_ms or 0,
        )
        self._timed = [i for i in order if self._utterances[i].timed]
        self._untimed = [i for i, u in enumerate(self._utterances) if not u.timed]
        # Only untimed (and generated) utterances are placed on what the VAD finds: a fully
        # timed scenario, like every benchmark's, skips its cost (a third of the service's CPU).
        self._needs_vad = self._generated or bool(self._untimed)
        self._done: set[int] = set()
        self._revealed: dict[int, int] = {}
        self._speech_started = False
        self._ended = False
        self._quiet_from = self._turn_start  # end of the last phrase

    def set_targets(self, targets: tuple[str, ...]) -> None:
        self._targets = targets

    async def feed(self, pcm: bytes) -> list[RecognitionEvent]:
        end = self._position + len(pcm)
        audio = self._audio
        if end > audio.analysed:
            if self._needs_vad:
                fresh = pcm[max(0, audio.analysed - self._position) :]
                audio.segments += audio.vad.feed(fresh)
            audio.analysed = end
        self._position = end
        return self._events()

    async def finish(self) -> list[RecognitionEvent]:
        if self._needs_vad and self._position >= self._audio.analysed:
            self._audio.segments += self._audio.vad.flush()
        self._ended = True
        return self._events()

    def _spans(self) -> list[tuple[int, int, int | None]]:
        """(utterance index, start byte, end byte or None while still open), in time order."""
        spans: list[tuple[int, int, int | None]] = []
        for i in self._timed:
            u = self._utterances[i]
            assert u.offset_ms is not None and u.duration_ms is not None
            spans.append((i, u.offset_ms * 32, (u.offset_ms + u.duration_ms) * 32))
        segments = self._audio.segments
        open_start = self._audio.vad.open_segment_start
        while len(self._untimed) < len(segments) + (open_start is not None):
            if self._generated:
                number = len(self._untimed) + 1
                utterance = Utterance(f"Scripted speech segment number {number}.")
            elif self._untimed and not self._timed:
                utterance = Utterance("", recognition_status="NoMatch")  # unscripted speech
            else:
                break  # timed scenarios place their utterances themselves
            self._untimed.append(len(self._utterances))
            self._utterances.append(utterance)
        for k, i in enumerate(self._untimed):
            if k < len(segments):
                spans.append((i, segments[k].start, segments[k].end))
            elif k == len(segments) and open_start is not None:
                spans.append((i, open_start, None))
            else:
                break
        spans.sort(key=lambda span: span[1])
        return spans

    def _events(self) -> list[RecognitionEvent]:
        events = self._utterance_events()
        for event in events:
            if isinstance(event, Phrase):
                self._quiet_from = max(
                    self._quiet_from, ticks_to_bytes(event.offset + event.duration)
                )
        return events

    def quiet(self) -> Quiet:
        # Quiet up to the next utterance's start (or the open VAD segment's, or now).
        quiet_until = self._position
        for i, start, _ in self._spans():
            if i not in self._done:
                quiet_until = min(quiet_until, max(start, self._quiet_from))
                break
        return Quiet(bytes_to_ticks(self._quiet_from), bytes_to_ticks(quiet_until))

    def _utterance_events(self) -> list[RecognitionEvent]:
        events: list[RecognitionEvent] = []
        for i, start, end in self._spans():
            if i in self._done:
                continue
            if end is not None and end <= self._turn_start:
                self._done.add(i)  # acknowledged on an earlier connection
                continue
            if start >= self._position:
                break
            if not self._speech_started:
                self._speech_started = True
                events.append(SpeechStarted(bytes_to_ticks(max(start, self._turn_start))))
            utterance = self._utterances[i]
            if end is not None and end <= self._position:
                self._done.add(i)
                events.append(self._phrase(utterance, start, end))
                continue
            partial = self._hypothesis(i, utterance, start, end)
            if partial is not None:
                events.append(partial)
            break  # later utterances wait for this one's final
        return events

    def _phrase(self, utterance: Utterance, start: int, end: int) -> Phrase:
        status = utterance.recognition_status
        if status in NO_TEXT_STATUSES:
            return Phrase(bytes_to_ticks(start), bytes_to_ticks(end - start), "", {}, status)
        translations = {t: _translation(utterance, t) for t in self._targets}
        return Phrase(
            bytes_to_ticks(start),
            bytes_to_ticks(end - start),
            utterance.text,
            translations,
            status,
            utterance.language,
        )

    def _hypothesis(
        self, index: int, utterance: Utterance, start: int, end: int | None
    ) -> Hypothesis | None:
        if utterance.recognition_status in NO_TEXT_STATUSES:
            return None
        words = utterance.text.split()
        heard = self._position - start
        if end is not None:
            fraction = min(1.0, heard / max(1, end - start))
        else:
            fraction = min(1.0, (1 + heard // PARTIAL_STEP_BYTES) / max(1, len(words) + 1))
        count = len(_prefix(utterance.text, fraction).split())
        if count <= self._revealed.get(index, 0):
            return None
        self._revealed[index] = count
        text = _stripped(" ".join(words[:count]))
        translations = {
            t: _stripped(_prefix(_translation(utterance, t), count / max(1, len(words))))
            for t in self._targets
        }
        return Hypothesis(
            bytes_to_ticks(start), bytes_to_ticks(heard), text, translations, utterance.language
        )


class ScriptedEngine:
    name = "scripted"

    def __init__(self) -> None:
        self._sessions: OrderedDict[str, _SessionAudio] = OrderedDict()

    def session_audio(self, params: StreamParams) -> _SessionAudio:
        audio = self._sessions.get(params.session_id)
        start = ticks_to_bytes(params.start_ticks)
        if audio is None or start > audio.analysed:
            # New session, or a gap we never saw: analyse from here on.
            silence = params.segmentation_silence_ms or params.scenario.segmentation_silence_ms
            audio = _SessionAudio(EnergyVad(silence_ms=silence, start=start), analysed=start)
            self._sessions[params.session_id] = audio
        self._sessions.move_to_end(params.session_id)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return audio

    def open_stream(self, params: StreamParams) -> ScriptedStream:
        return ScriptedStream(self, params)

    def supports(self, source_locale: str, target_language: str | None = None) -> str | None:
        return None  # scenarios script any language and pair

    def capabilities(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "recognition_languages": "*",
            "pairs": "*",
            "synthesis_languages": "*",
        }

    async def synthesize(
        self, text: str, language: str, voice: str | None, scenario: Scenario
    ) -> Synthesis:
        recorded = scenario.recorded_audio(language, text)
        if recorded is not None:
            return await synthesis.from_wav_file(recorded, text)
        return await synthesis.synthesize(text, language, scenario.synthesis_engine)

    async def translate_words(
        self, words: tuple[str, ...], source_locale: str, target_language: str
    ) -> tuple[str, ...]:
        return ()  # scenarios script whole translations, not words
