"""When the local Speech service ends a turn on silence, as Azure does (sans-I/O).

What the SDKs' own tests expect of the service (docs/local-speech-service.md, "Fidelity"):

* While a turn waits for speech, silence as long as the *initial silence timeout* ends it: an
  empty phrase covering that silence, then ``speech.endDetected``. The SDK answers with the
  end of its audio for the turn, and after ``turn.end`` starts the next one from the end of
  that phrase; "it can happen multiple times in a row" (a Microsoft engineer in
  Azure-Samples/cognitive-services-speech-sdk#2582). Thirty seconds of silence thus end two
  turns, as the JavaScript SDK's "Silence Then Speech" test counts.
* After a phrase, silence as long as the *end silence timeout* ends the turn the same way
  ("Silence After Speech", the multi-turn offset tests).
* In once mode the turn ends with its first phrase anyway: only the initial timeout applies.

The defaults are the rough values Microsoft gave for the service (5 s in once mode; 15 s
initial and 20 s end silence in continuous mode, Azure-Samples/cognitive-services-speech-sdk#502,
"Cognitive Speech Service may change these values"): configurable, and the client's own
``initialSilenceTimeout`` / ``trailingSilenceTimeout`` replace them for its session.
"""

from __future__ import annotations

from dataclasses import dataclass

from shim.audiotime import TICKS_PER_MS


def whole_ms(ticks: int) -> int:
    """``ticks`` rounded up to a whole millisecond. The SDKs count the audio a phrase
    acknowledges in whole milliseconds: a phrase ending a fraction of one before the end of
    the audio makes them replay that fraction in a turn of its own."""
    return -(-ticks // TICKS_PER_MS) * TICKS_PER_MS


@dataclass(frozen=True)
class SilenceTimeouts:
    """The service's silence timeouts, in milliseconds (``emulator --initial-silence-ms``...)."""

    interactive_initial_ms: int = 5_000
    conversation_initial_ms: int = 15_000
    conversation_end_ms: int = 20_000

    def for_turn(
        self, interactive: bool, client_initial_ms: int | None, client_end_ms: int | None
    ) -> TurnSilence:
        """A turn's timeouts: the client's where it sent them, else the service's."""
        if interactive:
            return TurnSilence(client_initial_ms or self.interactive_initial_ms, None)
        return TurnSilence(
            client_initial_ms or self.conversation_initial_ms,
            client_end_ms or self.conversation_end_ms,
        )


@dataclass(frozen=True)
class TurnSilence:
    initial_ms: int  # no speech yet in the turn
    end_ms: int | None  # after the turn's speech; None in once mode (its phrase ends it)

    def due(self, quiet_start: int, quiet_end: int, heard: bool) -> tuple[int, int] | None:
        """The silence phrase due now, as (offset, duration) in absolute ticks, or None.

        ``quiet_start``..``quiet_end`` is the silence at the end of the audio so far (from the
        end of the last speech or phrase); ``heard``: the turn has had speech. The phrase
        covers exactly the timeout, so where turns end does not depend on how the client
        cut its audio into messages.
        """
        limit_ms = self.end_ms if heard else self.initial_ms
        if limit_ms is None:
            return None
        limit = limit_ms * TICKS_PER_MS
        start = whole_ms(quiet_start)
        if quiet_end - start >= limit:
            return start, limit
        return None
