"""One legacy session's results, sans-I/O: recognizer events in, legacy messages out.

Keeps the ordering rules of the legacy service (spec §3.3, rules RS*, TS1): partials
``N.k`` then final ``N`` then, with TextToSpeech, exactly one binary message for that
final before anything about utterance ``N+1``. Events that arrive while a final's audio
is still being synthesised are held back and released after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shim.legacy.messages import ResultKind, ResultNumbering, Timing, encode_result
from shim.legacy.request import SessionRequest
from shim.legacy.tts import FinalSpeech, TtsSegment


@dataclass(frozen=True)
class TextOut:
    text: str  # one compact JSON result: one unfragmented text frame
    kind: ResultKind


@dataclass(frozen=True)
class TtsOut:
    wav: bytes  # one complete WAV file: one binary message (the edge may transcode to MP3)
    final_id: str


Outgoing = TextOut | TtsOut


@dataclass(frozen=True)
class _Held:
    kind: ResultKind
    matched: bool
    text: str
    translation: str
    offset: int
    duration: int


def _same_language(request: SessionRequest) -> bool:
    source = request.source_locale.split("-")[0].lower()
    return source == request.target_language.split("-")[0].lower()


class LegacySession:
    def __init__(self, request: SessionRequest) -> None:
        self._request = request
        self._numbering = ResultNumbering()
        self._same_language = _same_language(request)
        self._speech: FinalSpeech[str] = FinalSpeech()  # by final id
        self._held: list[_Held] = []
        self.finals_sent = 0

    @property
    def awaiting_tts(self) -> bool:
        return self._speech.waiting

    def recognizing(
        self, text: str, translation: str, offset: int, duration: int
    ) -> list[Outgoing]:
        if not self._request.partial:
            return []
        return self._result(_Held("partial", True, text, translation, offset, duration))

    def recognized(
        self, matched: bool, text: str, translation: str, offset: int, duration: int
    ) -> list[Outgoing]:
        return self._result(_Held("final", matched, text, translation, offset, duration))

    def synthesis_audio(self, chunk: bytes) -> list[Outgoing]:
        self._speech.add_chunk(chunk)
        return []

    def synthesis_completed(self) -> list[Outgoing]:
        """The SDK finished the final's audio: send it, then whatever was held back."""
        done = self._speech.complete()
        if done is None:
            return []
        final_id, wav = done
        out: list[Outgoing] = [TtsOut(wav, final_id)]
        held, self._held = self._held, []
        for item in held:
            out += self._result(item)
        return out

    def release(self) -> list[Outgoing]:
        """Give up waiting for synthesis (session ending, or a timeout): send what there is.

        Whether that cut a synthesis short is :attr:`awaiting_tts` just before the call."""
        out: list[Outgoing] = []
        while self._speech.waiting:
            out += self.synthesis_completed()
        return out

    def _result(self, item: _Held) -> list[Outgoing]:
        if self._speech.waiting:
            self._held.append(item)
            return []
        recognition = item.text if item.matched else ""
        translation = item.translation if item.matched else ""
        if self._same_language:
            translation = recognition
        timing = (
            Timing.from_ticks(item.offset, item.duration) if self._request.timing_info else None
        )
        if item.kind == "partial":
            if not recognition:
                return []
            identifier = self._numbering.partial_id()
            text = encode_result("partial", identifier, recognition, translation, timing)
            return [TextOut(text, "partial")]
        identifier = self._numbering.final_id()
        self.finals_sent += 1
        out: list[Outgoing] = [
            TextOut(encode_result("final", identifier, recognition, translation, timing), "final")
        ]
        if self._request.text_to_speech:
            if item.matched and item.translation:
                self._speech.expect(identifier)  # the SDK's synthesis of it follows
            else:
                # Nothing will be synthesised; keep "one audio message per final" (TS1).
                out.append(TtsOut(TtsSegment().wav(), identifier))
        return out
