"""``serve --record-backend DIR``: capture what the speech backend did, as a replayable scenario.

For each session it writes ``DIR/<request id>.json``, a scenario for the local Speech service
and the synthesized speech of each final as ``DIR/<request id>/<n>.<language>.wav``. The
scenario holds one *recording*: the session's audio known by its fingerprint (the loudness of
its first second of speech, :mod:`shim.emulator.engines.fingerprint`), with the utterances' offsets,
texts and translations. Run sessions against Azure once, then replay the same behaviour in CI
forever, each audio answered as recorded however many share one key:
``emulator --scenario DIR`` (or ``--scenario-dir`` with ``DIR`` as ``<key>/``). A session
with no speech in its first :data:`PRINT_SECONDS` is written without a fingerprint: its
utterances at their offsets, for ``--scenario DIR/<request id>.json``.

Memory: the first :data:`PRINT_SECONDS` of the session's audio (960 kB) until it is saved.
The file is written through the scenario module
(:func:`~shim.emulator.engines.scenario.save_scenario`), so it is validated against the
scenario schema and loads back as it was recorded.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from shim.audiotime import BYTES_PER_SECOND, TICKS_PER_MS
from shim.emulator.engines.fingerprint import fingerprint
from shim.emulator.engines.scenario import Recording, Scenario, Utterance, save_scenario
from shim.legacy.tts import FinalSpeech
from shim.speech.events import BridgeEvent, Recognized, SynthesisAudio, SynthesisCompleted

log = logging.getLogger("shim.server")

PRINT_SECONDS = 30  # the fingerprint is taken from the first speech in this much audio


@dataclass
class BackendRecorder:
    directory: Path
    request_id: str
    source_locale: str
    target_language: str
    utterances: list[Utterance] = field(default_factory=list)
    _audio: dict[int, bytes] = field(default_factory=dict)  # utterance index -> its speech
    _speech: FinalSpeech[int] = field(default_factory=FinalSpeech)
    _start: bytearray = field(default_factory=bytearray)  # the first PRINT_SECONDS of audio
    _audio_bytes: int = 0

    def audio(self, pcm: bytes) -> None:
        """The session's audio as the backend is given it (16 kHz mono 16-bit)."""
        room = PRINT_SECONDS * BYTES_PER_SECOND - len(self._start)
        if room > 0:
            self._start += pcm[:room]
        self._audio_bytes += len(pcm)

    def observe(self, event: BridgeEvent) -> None:
        """Called on the event loop for every backend event, in order; cheap."""
        if isinstance(event, Recognized) and not event.silence:
            self.utterances.append(
                Utterance(
                    text=event.text,
                    translations={self.target_language: event.translation} if event.matched else {},
                    offset_ms=event.offset // TICKS_PER_MS,
                    duration_ms=max(1, event.duration // TICKS_PER_MS),
                    recognition_status="Success" if event.matched else "NoMatch",
                )
            )
            if event.matched and event.translation:
                self._speech.expect(len(self.utterances) - 1)
            else:
                self._speech.forget()
        elif isinstance(event, SynthesisAudio):
            self._speech.add_chunk(event.audio)
        elif isinstance(event, SynthesisCompleted):
            done = self._speech.complete()
            if done is not None:
                index, wav = done
                self._audio[index] = wav

    def save(self) -> Path:
        """Write the scenario and its audio (blocking: call it in an executor)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        audio_dir = self.directory / self.request_id
        utterances = list(self.utterances)
        for index, wav in self._audio.items():
            audio_dir.mkdir(exist_ok=True)
            path = audio_dir / f"{index}.{self.target_language}.wav"
            path.write_bytes(wav)
            utterances[index] = dataclasses.replace(
                utterances[index], audio={self.target_language: str(path)}
            )
        description = (
            f"recorded from the speech backend: session {self.request_id},"
            f" {self.source_locale} -> {self.target_language}"
        )
        print_ = fingerprint(bytes(self._start))
        if print_ is None:
            scenario = Scenario(utterances=tuple(utterances), description=description)
        else:
            duration_ms = self._audio_bytes * 1000 // BYTES_PER_SECOND
            recording = Recording(print_, tuple(utterances), self.request_id, duration_ms)
            scenario = Scenario(recordings=(recording,), description=description)
        path = self.directory / f"{self.request_id}.json"
        save_scenario(scenario, path)
        log.info(
            "session %s: backend recorded to %s (%d utterances)",
            self.request_id,
            path,
            len(self.utterances),
        )
        return path
