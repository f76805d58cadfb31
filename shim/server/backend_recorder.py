"""``serve --record-backend DIR``: capture what the speech backend did, as a replayable scenario.

For each session it writes ``DIR/<request id>.json``, a scenario for the local Speech service
(utterances with their offsets, texts and translations) and the synthesized speech of each
final as ``DIR/<request id>/<n>.<language>.wav``. Run a session against Azure once, then
replay the same behaviour in CI forever: ``emulator --scenario DIR/<request id>.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shim.legacy.tts import TtsSegment
from shim.speech.events import BridgeEvent, Recognized, SynthesisAudio, SynthesisCompleted

log = logging.getLogger("shim.server")
TICKS_PER_MS = 10_000


@dataclass
class BackendRecorder:
    directory: Path
    request_id: str
    source_locale: str
    target_language: str
    utterances: list[dict[str, Any]] = field(default_factory=list)
    _audio: dict[int, bytes] = field(default_factory=dict)
    _segment: TtsSegment | None = None

    def observe(self, event: BridgeEvent) -> None:
        """Called on the event loop for every backend event, in order; cheap."""
        if isinstance(event, Recognized) and not event.silence:
            utterance: dict[str, Any] = {
                "offset_ms": event.offset // TICKS_PER_MS,
                "duration_ms": max(1, event.duration // TICKS_PER_MS),
                "text": event.text,
            }
            if event.matched:
                utterance["translations"] = {self.target_language: event.translation}
            else:
                utterance["recognition_status"] = "NoMatch"
            self.utterances.append(utterance)
            self._segment = TtsSegment() if event.matched and event.translation else None
        elif isinstance(event, SynthesisAudio) and self._segment is not None:
            self._segment.add_chunk(event.audio)
        elif isinstance(event, SynthesisCompleted) and self._segment is not None:
            self._audio[len(self.utterances) - 1] = self._segment.wav()
            self._segment = None

    def save(self) -> Path:
        """Write the scenario and its audio (blocking: call it in an executor)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        audio_dir = self.directory / self.request_id
        for index, wav in self._audio.items():
            audio_dir.mkdir(exist_ok=True)
            name = f"{index}.{self.target_language}.wav"
            (audio_dir / name).write_bytes(wav)
            self.utterances[index]["audio"] = {self.target_language: f"{self.request_id}/{name}"}
        scenario = {
            "description": f"recorded from the speech backend: session {self.request_id},"
            f" {self.source_locale} -> {self.target_language}",
            "utterances": self.utterances,
        }
        path = self.directory / f"{self.request_id}.json"
        path.write_text(json.dumps(scenario, ensure_ascii=False, indent=1) + "\n", "utf-8")
        log.info(
            "session %s: backend recorded to %s (%d utterances)",
            self.request_id,
            path,
            len(self.utterances),
        )
        return path
