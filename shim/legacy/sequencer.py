"""The results sequencer, sans-I/O: one session's recognizer events in, legacy sends out.

Keeps the ordering rules of the legacy service (spec §3.3, rules RS*, TS1): partials
``N.k`` then final ``N`` then, with TextToSpeech, exactly one binary message for that
final before anything about utterance ``N+1``. Events that arrive while a final's audio
is still being synthesised are held back and released after it.

When the session moves to another backend (:meth:`ResultSequencer.restart`), results held
back are dropped (they were never sent: the next backend recognises that audio again) and a
final whose audio had not completed is spoken again elsewhere (:meth:`respoken`); meanwhile
the new backend's results *and* its own synthesis are held, so its speech never mixes into
the earlier final's. Ids go on from where they were.
"""

from __future__ import annotations

from dataclasses import dataclass

from shim.legacy.messages import ResultKind, ResultNumbering, Timing, encode_result
from shim.legacy.request import SessionRequest
from shim.legacy.tts import FinalSpeech, TtsSegment
from shim.legacy.vocabulary import Send, SendResult, SendTts


@dataclass(frozen=True)
class _Held:
    kind: ResultKind
    matched: bool
    text: str
    translation: str
    offset: int
    duration: int


class _SynthesisEnd:
    """A held synthesis completion (the new backend's, while an earlier final is re-spoken)."""


_END = _SynthesisEnd()
_Item = _Held | bytes | _SynthesisEnd


def _same_language(request: SessionRequest) -> bool:
    source = request.source_locale.split("-")[0].lower()
    return source == request.target_language.split("-")[0].lower()


class ResultSequencer:
    """Orders one session's results as the legacy service did (module docstring)."""

    def __init__(self, request: SessionRequest) -> None:
        self._request = request
        self._numbering = ResultNumbering()
        self._same_language = _same_language(request)
        self._speech: FinalSpeech[str] = FinalSpeech()  # by final id
        self._spoken = ""  # the translation the waiting final's speech says
        self._held: list[_Item] = []
        self._respeaking = False  # the waiting final's speech comes from respoken()
        self.finals_sent = 0

    @property
    def awaiting_tts(self) -> bool:
        return self._speech.waiting

    @property
    def respeaking(self) -> bool:
        return self._respeaking

    def recognizing(self, text: str, translation: str, offset: int, duration: int) -> list[Send]:
        if not self._request.partial:
            return []
        return self._result(_Held("partial", True, text, translation, offset, duration))

    def recognized(
        self, matched: bool, text: str, translation: str, offset: int, duration: int
    ) -> list[Send]:
        return self._result(_Held("final", matched, text, translation, offset, duration))

    def synthesis_audio(self, chunk: bytes) -> list[Send]:
        if self._respeaking:
            self._held.append(chunk)  # the new backend's speech of a later final
        else:
            self._speech.add_chunk(chunk)
        return []

    def synthesis_completed(self) -> list[Send]:
        """The SDK finished the final's audio: send it, then whatever was held back."""
        if self._respeaking:
            self._held.append(_END)
            return []
        return self._complete()

    def cut_speech(self) -> list[Send]:
        """Stop waiting for the waiting final's speech (a timeout): send what arrived."""
        self._respeaking = False
        return self._complete()

    def release(self) -> list[Send]:
        """Give up waiting for synthesis (session ending, or a timeout): send what there is.

        Whether that cut a synthesis short is :attr:`awaiting_tts` just before the call."""
        out: list[Send] = []
        self._respeaking = False
        while self._speech.waiting:
            out += self._complete()
        return out

    def restart(self) -> tuple[str, str] | None:
        """The session moves to another backend: drop what was held back, and if a final's
        speech had not completed, forget what of it arrived and return (its id, the text to
        speak) — its speech then comes from :meth:`respoken`."""
        self._held = []
        if not self._speech.waiting:
            self._respeaking = False
            return None
        final_id = self._speech.restart()
        self._respeaking = True
        return final_id, self._spoken

    def respoken(self, audio: bytes) -> list[Send]:
        """The waiting final's speech, made again: send it, then what was held back."""
        if not self._respeaking:
            return []  # given up on meanwhile (a timeout, the session's end)
        self._respeaking = False
        self._speech.add_chunk(audio)
        return self._complete()

    def _complete(self) -> list[Send]:
        done = self._speech.complete()
        if done is None:
            return []
        final_id, wav = done
        out: list[Send] = [self._tts(wav, final_id)]
        held, self._held = self._held, []
        for item in held:
            if isinstance(item, _Held):
                out += self._result(item)
            elif isinstance(item, _SynthesisEnd):
                out += self.synthesis_completed()
            else:
                out += self.synthesis_audio(item)
        return out

    def _result(self, item: _Held) -> list[Send]:
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
            return [SendResult(text, "partial")]
        identifier = self._numbering.final_id()
        self.finals_sent += 1
        text = encode_result("final", identifier, recognition, translation, timing)
        out: list[Send] = [SendResult(text, "final", item.offset + max(0, item.duration))]
        if self._request.text_to_speech:
            if item.matched and item.translation:
                self._speech.expect(identifier)  # the SDK's synthesis of it follows
                self._spoken = item.translation
            else:
                # Nothing will be synthesised; keep "one audio message per final" (TS1).
                out.append(self._tts(TtsSegment().wav(), identifier))
        return out

    def _tts(self, wav: bytes, final_id: str) -> SendTts:
        return SendTts(wav, final_id, self._request.audio_format)
