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
from shim.emulator.engines import fingerprint, synthesis
from shim.emulator.engines.base import (
    Hypothesis,
    Phrase,
    Quiet,
    RecognitionEvent,
    SpeechStarted,
    StreamParams,
    Synthesis,
)
from shim.emulator.engines.fingerprint import LevelTrack
from shim.emulator.engines.scenario import Recording, Scenario, Utterance
from shim.emulator.engines.vad import EnergyVad, Segment

MAX_SESSIONS = 4096
MAX_SPOKEN = 256  # syntheses remembered to be understood when played back (1 kB each)
NO_TEXT_STATUSES = {"NoMatch", "InitialSilenceTimeout", "BabbleTimeout", "Error"}
PARTIAL_STEP_BYTES = BYTES_PER_SECOND * 3 // 10  # untimed utterances reveal about a word per 300 ms


@dataclass(frozen=True)
class _Placement:
    """A scenario recording heard in the session's audio."""

    recording: Recording
    start: int  # byte of the session's audio where the recording starts
    end: int | None  # ... and ends (None: its duration is not known)


@dataclass
class _SessionAudio:
    vad: EnergyVad
    segments: list[Segment] = field(default_factory=list)
    analysed: int = 0  # bytes of the session's audio the VAD has seen
    # Recordings (scenario per audio): levels of what is not matched yet, what matched where,
    # and for each segment start the placement it belongs to (None: no recording).
    track: LevelTrack | None = None
    placements: list[_Placement] = field(default_factory=list)
    decided: dict[int, int | None] = field(default_factory=dict)

    def placement_at(self, position: int) -> int | None:
        for index, placement in enumerate(self.placements):
            if placement.start <= position and (placement.end is None or position < placement.end):
                return index
        return None


Key = tuple[int, ...]  # (utterance index,) or (placement, utterance index in its recording)


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
        self._recordings = self._scenario.recordings
        self._generated = not self._utterances and not self._recordings
        order = sorted(
            range(len(self._utterances)),
            key=lambda i: self._utterances[i].offset_ms or 0,
        )
        self._timed = [i for i in order if self._utterances[i].timed]
        self._untimed = [i for i, u in enumerate(self._utterances) if not u.timed]
        # Only untimed (and generated) utterances are placed on what the VAD finds: a fully
        # timed scenario, like every benchmark's, skips its cost (a third of the service's CPU).
        self._needs_vad = self._generated or bool(self._untimed) or bool(self._recordings)
        if self._needs_vad:
            # What the service itself said is understood too: a translation's speech, played
            # back, is its text (the SDK's own round-trip tests).
            self._recordings += engine.spoken()
        self._prints = [r.fingerprint for r in self._recordings]
        if self._recordings and self._audio.track is None:
            self._audio.track = LevelTrack(self._audio.analysed)
        self._done: set[Key] = set()
        self._revealed: dict[Key, int] = {}
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
                if audio.track is not None:
                    audio.track.feed(fresh, end - len(fresh))
            audio.analysed = end
        self._position = end
        self._match()
        return self._events()

    async def finish(self) -> list[RecognitionEvent]:
        if self._needs_vad and self._position >= self._audio.analysed:
            self._audio.segments += self._audio.vad.flush()
        self._ended = True
        self._match()
        return self._events()

    def _match(self) -> None:
        """Decide which recording each new speech segment is (scenario per audio): one
        second into it, or when it ends; a segment inside a placed recording is its own."""
        audio, track = self._audio, self._audio.track
        if track is None:
            return
        starts = [(s.start, True) for s in audio.segments]
        if audio.vad.open_segment_start is not None:
            starts.append((audio.vad.open_segment_start, self._ended))
        waiting = None
        for start, closed in starts:
            if start in audio.decided:
                continue
            inside = audio.placement_at(start)
            if inside is not None:
                audio.decided[start] = inside
                continue
            if not closed and not fingerprint.ready(track, start):
                waiting = start
                break
            found = fingerprint.best_match(self._prints, track, start)
            if found is None:
                audio.decided[start] = None
                continue
            recording = self._recordings[found[0]]
            begin = found[1] - recording.fingerprint.speech_ms * 32
            end = None if recording.duration_ms is None else begin + recording.duration_ms * 32
            audio.placements.append(_Placement(recording, begin, end))
            audio.decided[start] = len(audio.placements) - 1
        # Keep a second behind the detector: a segment opens a few frames after it starts.
        keep = audio.analysed - BYTES_PER_SECOND
        track.trim(min(waiting, keep) if waiting is not None else keep)

    def _spans(self) -> list[tuple[Key, Utterance, int, int | None]]:
        """(key, utterance, start byte, end byte or None while still open), in time order."""
        spans: list[tuple[Key, Utterance, int, int | None]] = []
        for i in self._timed:
            u = self._utterances[i]
            assert u.offset_ms is not None and u.duration_ms is not None
            spans.append(((i,), u, u.offset_ms * 32, (u.offset_ms + u.duration_ms) * 32))
        audio = self._audio
        segments: list[tuple[int, int | None]] = [(s.start, s.end) for s in audio.segments]
        if audio.vad.open_segment_start is not None:
            segments.append((audio.vad.open_segment_start, None))
        if audio.track is not None:
            spans += self._recording_spans(segments)
            # Unmatched speech falls to the scenario's own utterances; undecided speech waits.
            decided = audio.decided
            segments = [s for s in segments if s[0] in decided and decided[s[0]] is None]
        while len(self._untimed) < len(segments):
            if self._generated:
                number = len(self._untimed) + 1
                utterance = Utterance(f"Scripted speech segment number {number}.")
            elif not self._timed:
                utterance = Utterance("", recognition_status="NoMatch")  # unscripted speech
            else:
                break  # timed scenarios place their utterances themselves
            self._untimed.append(len(self._utterances))
            self._utterances.append(utterance)
        for k, i in enumerate(self._untimed):
            if k >= len(segments):
                break
            start, end = segments[k]
            spans.append(((i,), self._utterances[i], start, end))
            if end is None:
                break
        spans.sort(key=lambda span: span[2])
        return spans

    def _recording_spans(
        self, segments: list[tuple[int, int | None]]
    ) -> list[tuple[Key, Utterance, int, int | None]]:
        """Each placed recording's utterances: timed ones where the recording puts them,
        the others on its speech segments in order."""
        audio = self._audio
        spans: list[tuple[Key, Utterance, int, int | None]] = []
        for p, placement in enumerate(audio.placements):
            utterances = placement.recording.utterances
            own = [s for s in segments if audio.decided.get(s[0]) == p]
            untimed = 0
            for j, u in enumerate(utterances):
                if u.timed:
                    assert u.offset_ms is not None and u.duration_ms is not None
                    start = placement.start + u.offset_ms * 32
                    spans.append(((p, j), u, start, start + u.duration_ms * 32))
                elif untimed < len(own):
                    start, end = own[untimed]
                    spans.append(((p, j), u, start, end))
                    untimed += 1
            for start, end in own[untimed:]:  # more speech than the recording scripts
                if not any(u.timed for u in utterances):
                    key = (p, len(utterances) + own.index((start, end)))
                    spans.append((key, Utterance("", recognition_status="NoMatch"), start, end))
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
        for key, _, start, _ in self._spans():
            if key not in self._done:
                quiet_until = min(quiet_until, max(start, self._quiet_from))
                break
        undecided = self._audio.vad.open_segment_start
        if self._audio.track is not None and undecided is not None:
            quiet_until = min(quiet_until, max(undecided, self._quiet_from))  # speech all the same
        return Quiet(bytes_to_ticks(self._quiet_from), bytes_to_ticks(quiet_until))

    def _utterance_events(self) -> list[RecognitionEvent]:
        events: list[RecognitionEvent] = []
        for key, utterance, start, end in self._spans():
            if key in self._done:
                continue
            if end is not None and end <= self._turn_start:
                self._done.add(key)  # acknowledged on an earlier connection
                continue
            if start >= self._position:
                break
            if not self._speech_started:
                self._speech_started = True
                events.append(SpeechStarted(bytes_to_ticks(max(start, self._turn_start))))
            if end is not None and end <= self._position:
                self._done.add(key)
                events.append(self._phrase(utterance, start, end))
                continue
            if self._ended and self._revealed.get(key):
                self._done.add(key)
                events.append(self._cut_short(key, utterance, start))
                continue
            partial = self._hypothesis(key, utterance, start, end)
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

    def _cut_short(self, index: Key, utterance: Utterance, start: int) -> Phrase:
        """The audio ended inside an utterance already hypothesised: the service ends every
        hypothesis with a phrase before its turn ends, here the words heard so far."""
        words = utterance.text.split()
        count = self._revealed[index]
        translations = {
            t: _stripped(_prefix(_translation(utterance, t), count / max(1, len(words))))
            for t in self._targets
        }
        return Phrase(
            bytes_to_ticks(start),
            bytes_to_ticks(self._position - start),
            _stripped(" ".join(words[:count])),
            translations,
            utterance.recognition_status,
            utterance.language,
        )

    def _hypothesis(
        self, index: Key, utterance: Utterance, start: int, end: int | None
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
        self._spoken: OrderedDict[tuple[str, str], Recording] = OrderedDict()

    def spoken(self) -> tuple[Recording, ...]:
        """Recordings of the speech this engine synthesized lately (at most MAX_SPOKEN)."""
        return tuple(self._spoken.values())

    def _remember(self, result: Synthesis, text: str, language: str) -> None:
        print_ = fingerprint.fingerprint(result.pcm)
        if print_ is None:
            return
        duration_ms = len(result.pcm) * 1000 // BYTES_PER_SECOND
        said = Utterance(text, language=language if "-" in language else None)
        self._spoken[(language, text)] = Recording(print_, (said,), "synthesized", duration_ms)
        self._spoken.move_to_end((language, text))
        while len(self._spoken) > MAX_SPOKEN:
            self._spoken.popitem(last=False)

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
            result = await synthesis.from_wav_file(recorded, text)
        else:
            result = await synthesis.synthesize(text, language, scenario.synthesis_engine)
        self._remember(result, text, language)
        return result

    async def translate_words(
        self, words: tuple[str, ...], source_locale: str, target_language: str
    ) -> tuple[str, ...]:
        return ()  # scenarios script whole translations, not words
