"""Playbooks for the session core: event sequences in, the commands (and close code) out.

Every close path of a legacy session is here, without sockets, threads or a clock: the time
of each event is given. Rule ids name what each playbook checks (ER1–ER4, AI1, AI6, TS1).
"""

from __future__ import annotations

import json
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.legacy.conduct import (
    AUDIO_AHEAD_SECONDS,
    CONVERT_STEP_BYTES,
    OUTBOX_HIGH_BYTES,
    Abandon,
    AudioReceived,
    BackendLost,
    BackendReplaced,
    BackendStartFailed,
    CheckClient,
    ClientClosed,
    ClientEnded,
    ClientGone,
    ClientNotReading,
    CloseSession,
    Command,
    Delivered,
    EndAudio,
    Event,
    KeepAudioFrom,
    Limits,
    NoOtherBackend,
    PauseReading,
    ProtocolViolation,
    ResumeReading,
    ResynthesisFailed,
    Resynthesize,
    Resynthesized,
    SendResult,
    SendTts,
    SessionConduct,
    ShutdownRequested,
    State,
    TextReceived,
    Tick,
    Warn,
    WriteAudio,
)
from shim.legacy.errors import Failure
from shim.speech.events import (
    Canceled,
    Recognized,
    Recognizing,
    Stopped,
    SynthesisAudio,
    SynthesisCompleted,
)
from tests.support.legacy_requests import legacy_request, sdk_wav
from tests.support.legacy_ws import header46

pytestmark = pytest.mark.unit

TICKS = 10_000_000
T0 = 1_000.0  # any monotonic origin: the core never reads a clock


def loud(seconds: float) -> bytes:
    """A 440 Hz tone at about -9 dBFS: speech as far as loudness goes."""
    count = int(16000 * seconds)
    return struct.pack(
        f"<{count}h", *(int(12000 * math.sin(2 * math.pi * 440 * i / 16000)) for i in range(count))
    )


def silent(seconds: float) -> bytes:
    return bytes(int(32000 * seconds))


def final(text: str, start_s: float, end_s: float, translation: str = "") -> Recognized:
    start, end = int(start_s * TICKS), int(end_s * TICKS)
    return Recognized(True, text, translation or text.upper(), start, end - start)


def silence_ack(start_s: float, end_s: float) -> Recognized:
    start, end = int(start_s * TICKS), int(end_s * TICKS)
    return Recognized(False, "", "", start, end - start, silence=True)


def hypothesis(text: str, start_s: float, end_s: float) -> Recognizing:
    start, end = int(start_s * TICKS), int(end_s * TICKS)
    return Recognizing(text, text.upper(), start, end - start)


SOCKET_READ = 256 << 10  # what one socket read hands the core at most


class Playbook:
    """One session's core and its clock; ``play`` feeds an event at a time, returns commands.

    ``send`` is the client's side through the edge: events wait while the core has reading
    paused and are delivered, in order, once it resumes (as the legacy socket holds them)."""

    def __init__(
        self, features: str = "", limits: Limits | None = None, *, may_move: bool = False
    ) -> None:
        self.core = SessionConduct(
            legacy_request(features), limits or Limits(), T0, may_move=may_move
        )
        self.now = T0
        self.log: list[Command] = []
        self.closed_at: float | None = None
        self.paused = False
        self.waiting: list[Event] = []  # sent by the client, not yet read

    def play(self, event: Event, at: float | None = None) -> list[Command]:
        if at is not None:
            assert at >= self.now, "time runs forward"
            self.now = at
        out = self.core.handle(event, self.now)
        self.log += out
        for command in out:
            if isinstance(command, (PauseReading, ResumeReading)):
                self.paused = isinstance(command, PauseReading)
        if any(isinstance(c, (CloseSession, Abandon)) for c in out):
            self.closed_at = self.now
        if not self.paused and self.waiting:
            out += self.play(self.waiting.pop(0))
        return out

    def send(self, *events: Event, at: float | None = None) -> None:
        if at is not None:
            self.now = max(self.now, at)
        self.waiting += events
        if not self.paused and self.waiting:
            self.play(self.waiting.pop(0))

    def send_audio(self, data: bytes, *, at: float | None = None, start: bool = False) -> None:
        """One binary message, handed over a socket read at a time."""
        pieces = [data[i : i + SOCKET_READ] for i in range(0, len(data), SOCKET_READ)]
        self.send(
            *(AudioReceived(p, message_start=start and i == 0) for i, p in enumerate(pieces)),
            at=at,
        )

    def stream(self, pcm: bytes, *, at: float | None = None, start: bool = False) -> None:
        self.play(AudioReceived((header46() if start else b"") + pcm, message_start=start), at)

    def realtime(self, pcm_per_second: bytes, seconds: int, *, from_s: float) -> None:
        """One second of audio per second of wall time, as a realtime client sends it."""
        for second in range(seconds):
            self.stream(pcm_per_second, at=T0 + from_s + second + 1)

    def tick_until(self, until: float) -> list[Command]:
        """Tick at every deadline the core names, as the edge does, up to ``until``."""
        out: list[Command] = []
        while (deadline := self.core.next_deadline()) is not None and deadline <= T0 + until:
            out += self.play(Tick(), at=max(self.now, deadline))
        return out

    def closes(self) -> list[CloseSession]:
        return [c for c in self.log if isinstance(c, CloseSession)]

    def finals(self) -> list[dict[str, object]]:
        return [
            json.loads(c.text) for c in self.log if isinstance(c, SendResult) and c.kind == "final"
        ]


def started(
    features: str = "", limits: Limits | None = None, *, may_move: bool = False
) -> Playbook:
    book = Playbook(features, limits, may_move=may_move)
    book.stream(loud(1.0), at=T0 + 1, start=True)
    return book


# ---- client close and the flush (ER1) ------------------------------------------------------
def test_client_close_with_results_pending_sends_them_then_closes_1000_ER1() -> None:
    book = started("texttospeech")
    assert book.play(ClientClosed(1000), at=T0 + 1.1)[-1] == EndAudio()
    assert book.core.state is State.FLUSHING and not book.closes()
    book.play(final("Hello.", 0.1, 0.9), at=T0 + 1.5)
    book.play(SynthesisAudio(sdk_wav()), at=T0 + 1.6)
    book.play(SynthesisCompleted(), at=T0 + 1.7)
    book.play(Canceled("EndOfStream", "NoError", ""), at=T0 + 1.8)
    assert not book.closes()
    book.play(Stopped(), at=T0 + 1.9)
    assert book.closes() == [CloseSession(1000, "")]
    assert [f["recognition"] for f in book.finals()] == ["Hello."]
    kinds = [type(c).__name__ for c in book.log if isinstance(c, (SendResult, SendTts))]
    assert kinds == ["SendResult", "SendTts"]  # TS1: the final's audio before the close


@pytest.mark.parametrize(
    ("code", "close", "failure"),
    [
        ("AuthenticationFailure", 1011, Failure.BACKEND_AUTH),  # backend HTTP 401
        ("ServiceError", 1011, Failure.BACKEND_ERROR),  # HTTP 500, or 1011 on every turn
        ("ConnectionFailure", 1011, Failure.BACKEND_ERROR),
        ("ServiceTimeout", 1011, Failure.BACKEND_ERROR),
        ("ServiceUnavailable", 1001, Failure.BACKEND_UNAVAILABLE),  # ER3: retry later
        ("TooManyRequests", 1001, Failure.BACKEND_THROTTLED),
    ],
)
def test_backend_failure_after_the_client_close_is_never_1000_ER3(
    code: str, close: int, failure: Failure
) -> None:
    book = started()
    book.play(ClientClosed(1000), at=T0 + 1.1)
    book.play(Canceled("Error", code, "WebSocket upgrade failed: secret details"), at=T0 + 1.5)
    book.play(Stopped(), at=T0 + 1.6)
    (closing,) = book.closes()
    assert closing.code == close
    assert "secret" not in closing.reason  # ER4: no backend details
    assert book.core.ending is not None and book.core.ending.failure is failure


def test_backend_failure_before_the_client_close_ends_the_session_at_once_ER3() -> None:
    book = started("partial")
    book.play(hypothesis("hel", 0.0, 0.4), at=T0 + 1.2)
    book.play(Canceled("Error", "AuthenticationFailure", ""), at=T0 + 1.3)
    assert [c.code for c in book.closes()] == [1011]
    assert book.play(final("late", 0, 1), at=T0 + 1.4) == []  # nothing after the close


def test_backend_hang_after_the_client_close_is_1011_within_the_backend_timeout() -> None:
    book = started()
    book.play(ClientClosed(1000), at=T0 + 2)
    book.tick_until(60)
    (closing,) = book.closes()
    assert closing.code == 1011
    assert book.closed_at == pytest.approx(T0 + 2 + Limits().backend_timeout)
    assert book.core.ending is not None and book.core.ending.failure is Failure.BACKEND_STALLED


def test_a_slow_backend_that_delivers_everything_ends_1000() -> None:
    book = started()
    book.stream(loud(4.0), at=T0 + 1.2)
    book.play(ClientClosed(1000), at=T0 + 1.3)
    for index in range(5):  # 5 s late each, within the backend timeout of one another
        book.tick_until(1.3 + 5 * (index + 1))
        book.play(final(f"u{index}", index, index + 1), at=T0 + 1.3 + 5 * (index + 1))
    book.play(Stopped(), at=T0 + 27)
    assert [c.code for c in book.closes()] == [1000]
    assert [f["recognition"] for f in book.finals()] == [f"u{i}" for i in range(5)]


def test_a_flush_that_runs_out_with_results_outstanding_is_1011() -> None:
    book = started()
    book.play(ClientClosed(1000), at=T0 + 2)
    for second in range(3, 40, 5):  # alive (partials) but never done
        book.tick_until(second)
        book.play(hypothesis("still talking", 0, second), at=T0 + second)
    book.tick_until(40)
    (closing,) = book.closes()
    assert closing.code == 1011
    assert book.core.ending is not None and book.core.ending.failure is Failure.RESULTS_INCOMPLETE
    # flush_timeout, plus the 1 s of audio the backend still had to go through at the close
    assert book.closed_at == pytest.approx(T0 + 2 + Limits().flush_timeout + 1)


def test_a_client_that_drops_tcp_during_the_flush_is_abandoned_at_once() -> None:
    book = started()
    book.play(ClientClosed(1000), at=T0 + 2)
    out = book.play(ClientGone(), at=T0 + 2.5)
    assert out == [Abandon("client connection lost")]
    assert not book.closes() and book.core.state is State.CLOSED
    assert book.core.next_deadline() is None


def test_a_client_that_stops_reading_is_abandoned() -> None:
    book = started()
    assert isinstance(book.play(ClientNotReading(), at=T0 + 40)[0], Abandon)
    assert book.core.ending is not None
    assert book.core.ending.failure is Failure.CLIENT_NOT_READING


# ---- moving to another backend before the first result ------------------------------------
@pytest.mark.parametrize(
    ("event", "lost"),
    [
        (
            Canceled("Error", "TooManyRequests", "429"),
            BackendLost(Failure.BACKEND_THROTTLED, "TooManyRequests"),
        ),
        (
            Canceled("Error", "ConnectionFailure", ""),
            BackendLost(Failure.BACKEND_ERROR, "ConnectionFailure"),
        ),
        (BackendStartFailed(), BackendLost(Failure.BACKEND_ERROR, None)),
        (Stopped(), BackendLost(Failure.BACKEND_ERROR, None)),
    ],
)
def test_a_backend_that_fails_before_its_first_result_is_replaced_unseen(
    event: Event, lost: BackendLost
) -> None:
    book = started("partial", may_move=True)
    assert book.play(event, at=T0 + 1.5) == [lost]
    # what the lost backend still says is not the session's
    assert book.play(Stopped(), at=T0 + 1.6) == []
    assert book.play(BackendReplaced(), at=T0 + 1.7) == []
    book.stream(loud(1.0), at=T0 + 2)
    book.play(hypothesis("hel", 0.0, 0.5), at=T0 + 2.5)
    book.play(final("Hello.", 0.0, 1.0), at=T0 + 3)
    book.play(ClientClosed(1000), at=T0 + 3.1)
    book.play(Stopped(), at=T0 + 3.5)
    assert [f["recognition"] for f in book.finals()] == ["Hello."]
    assert book.closes() == [CloseSession(1000, "")]


def test_nowhere_to_move_ends_the_session_as_the_failure_says() -> None:
    book = started(may_move=True)
    assert book.play(Canceled("Error", "TooManyRequests", ""), at=T0 + 1.5) == [
        BackendLost(Failure.BACKEND_THROTTLED, "TooManyRequests")
    ]
    assert not book.closes()
    book.play(NoOtherBackend(), at=T0 + 1.5)
    (closing,) = book.closes()
    assert closing.code == 1001
    assert book.core.ending is not None and book.core.ending.failure is Failure.BACKEND_THROTTLED


def test_a_silence_acknowledgement_lets_the_next_backend_start_after_it() -> None:
    book = started(may_move=True)
    assert book.play(silence_ack(0.0, 1.0), at=T0 + 1.2) == [KeepAudioFrom(1 * TICKS)]
    out = book.play(Canceled("Error", "ServiceError", ""), at=T0 + 1.3)
    assert out == [BackendLost(Failure.BACKEND_ERROR, "ServiceError", 1 * TICKS)]


# ---- moving mid-session --------------------------------------------------------------------
def test_a_backend_lost_mid_session_goes_on_after_the_last_final_ids_and_offsets_continuous() -> (
    None
):
    book = started("partial,timinginfo", may_move=True)
    book.stream(loud(3.0), at=T0 + 2)
    out = book.play(final("one", 0.1, 0.9), at=T0 + 2.1)
    assert [type(c) for c in out] == [SendResult, KeepAudioFrom]
    assert out[1] == KeepAudioFrom(9_000_000)
    book.play(hypothesis("tw", 1.0, 1.5), at=T0 + 2.2)  # sent: a partial of the next
    assert book.play(Canceled("Error", "ServiceError", ""), at=T0 + 2.5) == [
        BackendLost(Failure.BACKEND_ERROR, "ServiceError", 9_000_000)
    ]
    assert book.play(Stopped(), at=T0 + 2.6) == []  # the lost backend's: not the session's
    assert book.play(BackendReplaced(9_000_000), at=T0 + 3) == []
    # the new backend counts from where it was given the audio: 0.9 s of the session's
    book.play(hypothesis("tw", 0.1, 0.6), at=T0 + 3.2)
    out = book.play(final("two", 0.1, 1.0), at=T0 + 3.5)
    assert out[1] == KeepAudioFrom(19_000_000)
    book.play(ClientClosed(1000), at=T0 + 3.6)
    book.play(Stopped(), at=T0 + 3.7)
    assert book.closes() == [CloseSession(1000, "")]
    results = [json.loads(c.text) for c in book.log if isinstance(c, SendResult)]
    assert [(r["id"], r["recognition"], r["audioTimeOffset"]) for r in results] == [
        ("0", "one", 1_000_000),
        ("1.1", "tw", 10_000_000),
        ("1.2", "tw", 10_000_000),
        ("1", "two", 10_000_000),
    ]


def test_a_final_whose_speech_was_in_flight_is_spoken_again_exactly_once_TS1() -> None:
    book = started("texttospeech,partial", may_move=True)
    book.stream(loud(3.0), at=T0 + 2)
    book.play(final("one", 0.1, 0.9, "EINS"), at=T0 + 2.1)
    book.play(SynthesisAudio(sdk_wav(800)), at=T0 + 2.2)  # half of its speech: forgotten
    book.play(hypothesis("tw", 1.0, 1.2), at=T0 + 2.3)  # held behind it: dropped
    book.play(Canceled("Error", "ConnectionFailure", ""), at=T0 + 2.4)
    assert book.play(BackendReplaced(9_000_000), at=T0 + 3) == [Resynthesize("0", "EINS")]
    # the new backend's results and its own speech wait for the final's
    assert book.play(final("two", 0.1, 1.0, "ZWEI"), at=T0 + 3.2) == []
    assert book.play(SynthesisAudio(sdk_wav(100)), at=T0 + 3.3) == []
    assert book.play(SynthesisCompleted(), at=T0 + 3.4) == []
    out = book.play(Resynthesized(bytes(6400)), at=T0 + 3.5)
    assert [type(c) for c in out] == [SendTts, SendResult, KeepAudioFrom, SendTts]
    first, two, kept, second = out
    assert isinstance(first, SendTts) and first.final_id == "0"
    assert len(first.wav) == 46 + 6400  # only the re-spoken audio
    assert isinstance(two, SendResult) and json.loads(two.text)["id"] == "1"
    assert kept == KeepAudioFrom(19_000_000)
    assert isinstance(second, SendTts) and (second.final_id, len(second.wav)) == ("1", 46 + 200)
    book.play(ClientClosed(1000), at=T0 + 3.6)
    book.play(Stopped(), at=T0 + 3.7)
    assert book.closes() == [CloseSession(1000, "")]
    sends = [c for c in book.log if isinstance(c, (SendResult, SendTts))]
    assert [json.loads(c.text)["id"] if isinstance(c, SendResult) else "tts" for c in sends] == [
        "0",
        "tts",
        "1",
        "tts",
    ]


def test_a_backend_that_stops_before_the_final_is_spoken_again_waits_for_its_speech() -> None:
    book = started("texttospeech", may_move=True)
    book.play(final("one", 0.1, 0.9), at=T0 + 1.1)
    book.play(ClientClosed(1000), at=T0 + 1.2)
    book.play(Canceled("Error", "ServiceError", ""), at=T0 + 1.3)
    assert book.play(BackendReplaced(9_000_000), at=T0 + 1.4) == [Resynthesize("0", "ONE")]
    assert book.play(Stopped(), at=T0 + 1.5) == []  # its 0.1 s had nothing more
    out = book.play(Resynthesized(bytes(3200)), at=T0 + 1.6)
    assert [type(c) for c in out] == [SendTts, CloseSession]
    assert book.closes() == [CloseSession(1000, "")]


def test_a_resource_that_cannot_speak_the_final_again_is_left_too() -> None:
    book = started("texttospeech", may_move=True)
    book.play(final("one", 0.1, 0.9), at=T0 + 1.1)
    book.play(Canceled("Error", "ServiceError", ""), at=T0 + 1.2)
    book.play(BackendReplaced(9_000_000), at=T0 + 1.3)
    assert book.play(ResynthesisFailed("ServiceUnavailable"), at=T0 + 1.4) == [
        BackendLost(Failure.BACKEND_UNAVAILABLE, "ServiceUnavailable", 9_000_000)
    ]
    assert book.play(BackendReplaced(9_000_000), at=T0 + 1.5) == [Resynthesize("0", "ONE")]
    assert book.play(Resynthesized(bytes(3200)), at=T0 + 1.6)[0].final_id == "0"  # type: ignore[union-attr]
    book.play(NoOtherBackend(), at=T0 + 1.7)  # an answer nobody asked for
    assert not book.closes()


def test_speech_cut_short_by_its_timeout_leaves_nothing_a_move_could_save() -> None:
    book = started("texttospeech", may_move=True)
    book.play(final("one", 0.1, 0.9), at=T0 + 1.1)
    book.tick_until(1.1 + Limits().tts_timeout)
    out = book.play(Canceled("Error", "ServiceError", ""), at=book.now + 1)
    assert [type(c) for c in out] == [CloseSession]
    assert [c.code for c in book.closes()] == [1011]


def test_the_audio_kept_for_a_move_pauses_reading_at_the_read_ahead() -> None:
    book = started(may_move=True)
    book.stream(silent(40.0), at=T0 + 2)
    book.play(hypothesis("long", 0.0, 35.0), at=T0 + 3)  # heard: only 6 s owed
    book.stream(silent(25.0), at=T0 + 4)  # 66 s kept since no final yet
    assert book.paused
    book.play(final("long", 0.0, 40.0), at=T0 + 5)  # kept 26 s, owed 26 s
    assert not book.paused
    # without may_move the same timeline never pauses
    plain = started()
    plain.stream(silent(40.0), at=T0 + 2)
    plain.play(hypothesis("long", 0.0, 35.0), at=T0 + 3)
    plain.stream(silent(25.0), at=T0 + 4)
    assert not plain.paused


def test_a_phrase_longer_than_the_read_ahead_is_not_a_deadlock() -> None:
    book = started(may_move=True)
    book.stream(silent(40.0), at=T0 + 2)
    book.play(hypothesis("long", 0.0, 35.0), at=T0 + 3)
    book.stream(silent(25.0), at=T0 + 4)
    assert book.paused
    # the backend heard all but the last half second, and waits for more to end its phrase
    book.play(hypothesis("long", 0.0, 65.5), at=T0 + 5)
    assert not book.paused
    book.stream(silent(0.4), at=T0 + 6)
    assert not book.paused
    book.stream(silent(1.0), at=T0 + 7)  # owed 1.9 s, kept 67.4 s
    assert book.paused


def test_without_may_move_nothing_changes() -> None:
    book = started()
    out = book.play(Canceled("Error", "TooManyRequests", ""), at=T0 + 1.5)
    assert [type(c) for c in out] == [CloseSession]


def test_a_stall_before_the_first_result_moves_and_the_new_backend_gets_its_own_time() -> None:
    book = started(may_move=True)
    book.play(ClientClosed(1000), at=T0 + 2)
    out = book.tick_until(2 + Limits().backend_timeout)
    assert out[-1] == BackendLost(Failure.BACKEND_STALLED, None)
    moved_at = book.now
    book.play(BackendReplaced(), at=moved_at)
    # the new backend has the whole flush again, and its own backend timeout
    assert book.core.next_deadline() == pytest.approx(moved_at + Limits().backend_timeout)
    book.play(final("Hello.", 0.0, 1.0), at=moved_at + 1)
    book.play(Stopped(), at=moved_at + 1.5)
    assert book.closes() == [CloseSession(1000, "")]
    assert [f["recognition"] for f in book.finals()] == ["Hello."]


def test_a_second_failure_while_the_edge_moves_the_session_asks_nothing_more() -> None:
    book = started(may_move=True)
    book.play(BackendStartFailed(), at=T0 + 1.1)
    assert book.play(ClientClosed(1000), at=T0 + 1.2)[-1] == EndAudio()
    assert book.tick_until(1.2 + 4 * Limits().backend_timeout) == []
    assert book.play(NoOtherBackend(), at=book.now) == [CloseSession(1011, "Speech backend error")]


def test_a_move_answer_nobody_asked_for_is_ignored() -> None:
    book = started(may_move=True)
    assert book.play(BackendReplaced(), at=T0 + 1.1) == []
    assert book.play(NoOtherBackend(), at=T0 + 1.2) == []
    assert book.core.state is State.STREAMING


# ---- the watchdog -----------------------------------------------------------------------------
def test_a_backend_that_hangs_while_speech_streams_is_1011_within_seconds() -> None:
    book = started("partial")
    book.play(final("one", 0.2, 1.0), at=T0 + 1.2)
    for second in range(2, 40):  # the client keeps talking; the backend says nothing more
        book.stream(loud(1.0), at=T0 + second)
        book.tick_until(second)
        if book.closes():
            break
    (closing,) = book.closes()
    assert closing.code == 1011
    # Speech from 1 s on; answered by nothing for backend_timeout of audio and of wall time.
    assert book.now - (T0 + 1.2) <= Limits().backend_timeout + 2


def test_silence_a_backend_does_not_acknowledge_is_not_a_hang() -> None:
    book = started()
    book.play(final("one", 0.0, 1.0), at=T0 + 1.2)
    for second in range(2, 60):
        book.stream(silent(1.0), at=T0 + second)
        book.tick_until(second)
    # A healthy service may stay quiet through ~20 s of silence (Azure's end-silence
    # timeout); nothing is lost while it does.
    assert not book.closes()


def test_a_backend_hung_during_silence_is_noticed_once_the_read_ahead_is_full() -> None:
    book = started()
    book.play(final("one", 0.0, 1.0), at=T0 + 1.2)
    for second in range(2, 200):
        if PauseReading() not in book.log:
            book.stream(silent(1.0), at=T0 + second)
        book.tick_until(second)
        if book.closes():
            break
    assert [c.code for c in book.closes()] == [1011]
    limit = 1.2 + AUDIO_AHEAD_SECONDS + 2 * Limits().backend_timeout
    assert book.closed_at is not None and book.closed_at <= T0 + limit


def test_a_burst_is_not_a_hang_while_the_backend_keeps_answering() -> None:
    book = started("partial")
    book.send_audio(loud(30.0) + silent(100.0), at=T0 + 1.1)  # the C# quickstart's whole file
    book.send(ClientClosed(1000), at=T0 + 1.2)
    for step in range(1, 27):  # the backend works through it, an event every 5 s
        book.tick_until(1.2 + 5 * step)
        book.play(silence_ack(5 * step, 5 * step + 5), at=T0 + 1.2 + 5 * step)
    book.play(Stopped(), at=T0 + 140)
    assert [c.code for c in book.closes()] == [1000]


def test_after_the_close_a_backend_may_go_quietly_through_the_silence_it_owes() -> None:
    book = started()
    book.stream(loud(2.0) + silent(100.0), at=T0 + 1.1)  # speech, then 100 s of silence
    book.play(ClientClosed(1000), at=T0 + 1.2)
    book.play(final("speech", 0, 3.0), at=T0 + 1.5)
    book.tick_until(14)  # 12.5 s without a word: working through 100 s of silence
    assert not book.closes()
    book.play(Stopped(), at=T0 + 14)
    assert [c.code for c in book.closes()] == [1000]


def test_after_the_close_speech_it_owes_must_be_answered_within_the_backend_timeout() -> None:
    book = started()
    book.stream(loud(5.0) + silent(100.0), at=T0 + 1.1)
    book.play(ClientClosed(1000), at=T0 + 1.2)
    book.tick_until(60)
    assert [c.code for c in book.closes()] == [1011]
    assert book.closed_at == pytest.approx(T0 + 1.2 + Limits().backend_timeout)


def test_a_long_utterance_with_partials_only_is_not_a_hang() -> None:
    book = started()  # no partials asked: they still count as the backend's sign of life
    for second in range(2, 26):
        book.stream(loud(1.0), at=T0 + second)
        book.play(hypothesis("words " * second, 0, second - 0.5), at=T0 + second + 0.1)
        book.tick_until(second + 0.1)
    assert not book.closes()
    assert not [c for c in book.log if isinstance(c, SendResult)]  # RS5: no partials unasked


# ---- ER2: idle, long silence, the cap --------------------------------------------------------
def test_idle_session_flushes_then_closes_1000_ER2() -> None:
    book = started()
    out = book.tick_until(1 + Limits().idle_timeout)
    assert EndAudio() in out and not book.closes()
    assert book.now == pytest.approx(T0 + 1 + Limits().idle_timeout)
    book.play(final("last words", 0, 1), at=book.now + 0.5)
    book.play(Stopped(), at=book.now + 0.6)
    assert book.closes() == [CloseSession(1000, "no audio received: idle timeout")]
    assert [f["recognition"] for f in book.finals()] == ["last words"]


def test_long_silence_flushes_then_closes_1000_ER2() -> None:
    limits = Limits(silence_timeout=20)
    book = started(limits=limits)
    book.play(final("hello", 0.1, 1.0), at=T0 + 1.5)
    for second in range(2, 30):
        book.stream(silent(1.0), at=T0 + second)
        if second % 5 == 0:  # the service acknowledges silence, as it does
            book.play(silence_ack(second - 5, second), at=T0 + second + 0.1)
        if book.core.state is State.FLUSHING:
            break
    assert book.core.state is State.FLUSHING
    assert book.log.count(EndAudio()) == 1
    book.play(Stopped(), at=book.now + 1)
    assert book.closes() == [CloseSession(1000, "long silence: no speech heard")]


def test_session_cap_flushes_then_closes_1000_ER2() -> None:
    book = started(limits=Limits(max_session=30))
    for second in range(2, 40):
        book.stream(loud(1.0), at=T0 + second)
        book.play(hypothesis("x", 0, second - 0.5), at=T0 + second + 0.1)
        book.tick_until(second + 0.1)
        if book.core.state is not State.STREAMING:
            break
    assert book.core.state is State.FLUSHING and book.now <= T0 + 31
    book.play(final("x", 0, 29), at=book.now + 0.2)
    book.play(Stopped(), at=book.now + 0.3)
    assert book.closes() == [CloseSession(1000, "session time limit reached")]


def test_a_session_paused_for_read_ahead_is_not_idle() -> None:
    book = started()
    book.stream(silent(AUDIO_AHEAD_SECONDS), at=T0 + 1.5)
    assert PauseReading() in book.log
    book.tick_until(1.5 + Limits().idle_timeout + 5)
    assert EndAudio() not in book.log  # paused by us: not the client being idle


# ---- failures on the client's side (AI1, AI6, RFC 6455) --------------------------------------
def test_a_text_message_closes_1003_AI1() -> None:
    book = started()
    assert book.play(TextReceived(), at=T0 + 2)[-1].code == 1003  # type: ignore[union-attr]


def test_audio_without_a_header_closes_1003_AI6() -> None:
    book = Playbook()
    book.stream(b"\x01\x02" * 4000, at=T0 + 0.1)
    (closing,) = book.closes()
    assert closing.code == 1003 and "RIFF" in closing.reason


def test_a_protocol_error_closes_1002_at_once() -> None:
    book = started()
    out = book.play(ProtocolViolation("client frames must be masked"), at=T0 + 2)
    assert out[-1] == CloseSession(1002, "client frames must be masked")


def test_drain_closes_1001_without_waiting_ER3() -> None:
    book = started()
    book.play(ClientClosed(1000), at=T0 + 2)
    assert book.play(ShutdownRequested(), at=T0 + 3)[-1] == CloseSession(
        1001, "server shutting down"
    )


def test_a_backend_that_cannot_start_is_1011() -> None:
    book = Playbook()
    assert book.play(BackendStartFailed(), at=T0)[-1].code == 1011  # type: ignore[union-attr]


def test_the_backend_ending_the_session_while_audio_flows_is_1011() -> None:
    book = started()
    book.play(Canceled("EndOfStream", "NoError", ""), at=T0 + 2)
    assert book.play(Stopped(), at=T0 + 2.1)[-1].code == 1011  # type: ignore[union-attr]


# ---- TS1 and incomplete text-to-speech -------------------------------------------------------
def test_tts_that_never_completes_is_sent_as_is_and_the_ending_is_1011_TS1() -> None:
    book = started("texttospeech")
    book.play(final("one", 0.1, 0.9), at=T0 + 1.2)
    book.play(SynthesisAudio(sdk_wav()), at=T0 + 1.3)
    book.play(final("two", 1.0, 1.5), at=T0 + 1.6)  # held behind the first final's audio
    book.tick_until(1.3 + Limits().tts_timeout)
    sends = [type(c).__name__ for c in book.log if isinstance(c, (SendResult, SendTts))]
    assert sends == ["SendResult", "SendTts", "SendResult"]  # one's audio, then two
    assert any(isinstance(c, Warn) for c in book.log)
    book.play(SynthesisCompleted(), at=book.now + 0.1)  # two's audio does complete
    book.play(ClientClosed(1000), at=book.now + 0.2)
    book.play(Stopped(), at=book.now + 0.3)
    (closing,) = book.closes()
    assert closing.code == 1011  # something owed was cut short: never 1000
    assert book.core.ending is not None and book.core.ending.failure is Failure.RESULTS_INCOMPLETE


def test_results_held_behind_tts_are_still_sent_when_the_backend_fails() -> None:
    book = started("texttospeech,partial")
    book.play(final("one", 0.1, 0.9), at=T0 + 1.2)
    book.play(hypothesis("tw", 1.0, 1.2), at=T0 + 1.3)  # held until one's audio
    book.play(Canceled("Error", "ServiceError", ""), at=T0 + 1.4)
    sends = [c for c in book.log if isinstance(c, (SendResult, SendTts, CloseSession))]
    assert [type(c).__name__ for c in sends] == [
        "SendResult",
        "SendTts",
        "SendResult",
        "CloseSession",
    ]


# ---- flow control -----------------------------------------------------------------------------
def test_read_ahead_pauses_reading_and_answers_resume_it() -> None:
    book = started()
    book.stream(silent(AUDIO_AHEAD_SECONDS), at=T0 + 1.5)
    assert book.log[-1] == PauseReading()
    book.play(silence_ack(0, AUDIO_AHEAD_SECONDS - 5), at=T0 + 3)
    assert book.log[-1] == ResumeReading()


def test_each_acknowledged_silence_lets_audio_through_a_full_read_ahead() -> None:
    """Azure ends a turn after 15-20 s of silence, and the SDK starts the next turn only when
    it is written more audio: waiting for the read-ahead to drain would wait forever."""
    book = started()
    book.stream(silent(AUDIO_AHEAD_SECONDS), at=T0 + 1.5)
    assert book.log[-1] == PauseReading()
    # 45 s still owed, far above the resume mark: reading resumes all the same.
    assert book.play(silence_ack(0, 15), at=T0 + 2)[-1] == ResumeReading()
    book.stream(silent(15.0), at=T0 + 2.1)  # and the window is full again
    assert book.log[-1] == PauseReading()
    out = book.play(final("words", 15.5, 16.5), at=T0 + 3)  # a final is no end of a turn
    assert ResumeReading() not in out and not [c for c in out if isinstance(c, WriteAudio)]


def test_an_acknowledged_silence_lets_waiting_audio_refill_the_read_ahead() -> None:
    book = started()
    book.stream(silent(AUDIO_AHEAD_SECONDS + 30), at=T0 + 1.5)  # 30 s wait, unconverted
    assert book.log[-1] == PauseReading()
    out = book.play(silence_ack(0, 15), at=T0 + 2)  # 45 s owed: above the resume mark
    written = sum(len(c.pcm) for c in out if isinstance(c, WriteAudio))
    assert 15 * 32_000 <= written <= 15 * 32_000 + CONVERT_STEP_BYTES  # the window, full again
    assert ResumeReading() not in out  # 15 s still wait


def test_a_slow_reader_pauses_reading_until_results_are_delivered() -> None:
    book = started("texttospeech")
    big = sdk_wav(OUTBOX_HIGH_BYTES)  # 2 MiB of TTS for one final
    book.play(final("one", 0.1, 0.9), at=T0 + 1.2)
    book.play(SynthesisAudio(big), at=T0 + 1.3)
    out = book.play(SynthesisCompleted(), at=T0 + 1.4)
    assert out[-1] == PauseReading()
    tts = next(c for c in out if isinstance(c, SendTts))
    assert book.play(Delivered(tts.size), at=T0 + 3) == [ResumeReading()]


# ---- invariants over any timeline --------------------------------------------------------------
_EVENTS = st.one_of(
    st.builds(lambda s: ("audio", s), st.sampled_from([0.1, 1.0, 5.0])),
    st.builds(lambda s: ("silent", s), st.sampled_from([1.0, 5.0])),
    st.just(("final",)),
    st.just(("nomatch",)),
    st.just(("silence",)),
    st.just(("partial",)),
    st.just(("tts",)),
    st.just(("tts_done",)),
    st.just(("close",)),
    st.just(("stopped",)),
    st.sampled_from(
        [("cancel", "ServiceError"), ("cancel", "TooManyRequests"), ("cancel", "EndOfStream")]
    ),
    st.builds(lambda s: ("wait", s), st.sampled_from([0.5, 3.0, 11.0, 16.0, 31.0, 61.0])),
)


@settings(max_examples=300, deadline=None)
@given(
    features=st.sampled_from(["", "partial", "texttospeech", "partial,texttospeech"]),
    script=st.lists(_EVENTS, max_size=40),
)
def test_a_1000_close_means_every_final_was_sent_and_ticks_never_spin(
    features: str, script: list[tuple[object, ...]]
) -> None:
    book = started(features)
    position = 1.0
    finals_fed = 0
    for step in script:
        kind = step[0]
        at = book.now + 0.01
        if kind == "wait":
            target = book.now + float(step[1])  # type: ignore[arg-type]
            ticks = 0
            while (deadline := book.core.next_deadline()) is not None and deadline <= target:
                before = (book.core.state, book.core.next_deadline(), len(book.log))
                book.play(Tick(), at=max(book.now, deadline))
                after = (book.core.state, book.core.next_deadline(), len(book.log))
                assert after != before, "a Tick at the deadline changed nothing"
                ticks += 1
                assert ticks < 100
            book.now = max(book.now, target)
            continue
        if kind in ("audio", "silent"):
            seconds = float(step[1])  # type: ignore[arg-type]
            book.stream(loud(seconds) if kind == "audio" else silent(seconds), at=at)
        elif kind == "final" or kind == "nomatch":
            book.play(Recognized(kind == "final", "t", "T", int(position * TICKS), TICKS), at=at)
            if book.core.state is not State.CLOSED:
                finals_fed += 1
            position += 1
        elif kind == "silence":
            book.play(silence_ack(position, position + 5), at=at)
            position += 5
        elif kind == "partial":
            book.play(hypothesis("p", position, position + 0.5), at=at)
        elif kind == "tts":
            book.play(SynthesisAudio(sdk_wav()), at=at)
        elif kind == "tts_done":
            book.play(SynthesisCompleted(), at=at)
        elif kind == "close":
            book.play(ClientClosed(1000), at=at)
        elif kind == "stopped":
            book.play(Stopped(), at=at)
        else:
            code = str(step[1])
            reason = "EndOfStream" if code == "EndOfStream" else "Error"
            book.play(Canceled(reason, code, ""), at=at)
    closes = book.closes()
    assert len(closes) <= 1
    if closes and closes[0].code == 1000:
        assert len(book.finals()) == finals_fed
        if "texttospeech" in features:
            tts = [c for c in book.log if isinstance(c, SendTts)]
            assert len(tts) == finals_fed  # TS1: one audio message per final
    if book.core.state is not State.CLOSED:
        assert book.core.next_deadline() is not None  # something will end it
    for command in book.log:
        assert not isinstance(command, WriteAudio) or command.pcm


# ---- half-close: the client's end of stream is not its disappearance -----------------------
def test_an_end_of_stream_after_the_close_keeps_the_flush_going_until_every_final_ER1() -> None:
    book = started()
    book.play(ClientClosed(1000), at=T0 + 1.1)
    assert book.play(ClientEnded(), at=T0 + 1.1) == []  # the Node client's SHUT_WR
    book.play(final("one", 0.0, 0.9), at=T0 + 3.0)
    book.play(Stopped(), at=T0 + 3.1)
    assert [f["recognition"] for f in book.finals()] == ["one"]
    assert book.closes() == [CloseSession(1000, "")]


def test_an_end_of_stream_without_a_close_ends_the_audio_and_still_flushes() -> None:
    book = started()
    out = book.play(ClientEnded(), at=T0 + 1.1)
    assert EndAudio() in out and book.core.state is State.FLUSHING
    book.play(final("one", 0.0, 0.9), at=T0 + 2.0)
    book.play(Stopped(), at=T0 + 2.1)
    assert [f["recognition"] for f in book.finals()] == ["one"]
    assert book.closes() == [CloseSession(1000, "")]


@pytest.mark.parametrize(("invalid_data", "code"), [(False, 1002), (True, 1007)])
def test_an_invalid_close_frame_fails_the_session_never_1000(invalid_data: bool, code: int) -> None:
    book = started()
    book.play(final("one", 0.0, 0.9), at=T0 + 1.05)
    book.play(ProtocolViolation("bad close", invalid_data), at=T0 + 1.1)
    assert [c.code for c in book.closes()] == [code]
    assert [f["recognition"] for f in book.finals()] == ["one"]  # what was sent stays sent


# ---- audio that multiplies: converted a step at a time within the read-ahead ---------------
def _riff_1khz_8bit(payload: bytes) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, 1000, 1000, 1, 8)
    return (
        b"RIFF" + struct.pack("<I", 36 + len(payload)) + b"WAVEfmt "
        + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    )  # fmt: skip


def test_a_1_khz_8_bit_whole_file_never_gets_more_than_the_read_ahead_ahead() -> None:
    book = Playbook()
    book.send_audio(_riff_1khz_8bit(bytes(range(256)) * 8192), at=T0 + 1, start=True)  # 2 MiB
    written = sum(len(c.pcm) for c in book.log if isinstance(c, WriteAudio))
    ahead = AUDIO_AHEAD_SECONDS * 32_000
    assert ahead <= written <= ahead + CONVERT_STEP_BYTES
    assert book.paused and book.waiting  # the rest stays in the client's TCP buffers
    assert len(book.core._input) <= SOCKET_READ  # at most one read waits, unconverted
    # The backend answers: room for more, converted before reading resumes.
    book.play(silence_ack(0.0, 40.0), at=T0 + 5)
    more = sum(len(c.pcm) for c in book.log if isinstance(c, WriteAudio)) - written
    assert 0 < more <= 40 * 32_000 + CONVERT_STEP_BYTES


# ---- a client behind paused reading is still checked ---------------------------------------
def test_while_reading_is_paused_the_client_is_checked_every_half_liveness_timeout() -> None:
    limits = Limits(liveness_timeout=10.0, idle_timeout=1_000, backend_timeout=1_000)
    book = started(limits=limits)
    book.stream(silent(AUDIO_AHEAD_SECONDS + 1), at=T0 + 2)
    assert book.paused
    book.play(hypothesis("slow", 0.0, 1.0), at=T0 + 4)  # backend answers do not put it off
    book.tick_until(2 + 21)
    checks = sum(isinstance(c, CheckClient) for c in book.log)
    assert checks == 4  # at 7, 12, 17, 22 s: a gone client is noticed within 10 s


def test_a_reading_session_is_not_checked() -> None:
    book = started(limits=Limits(liveness_timeout=2.0))
    book.realtime(loud(1.0), 10, from_s=1)
    book.tick_until(11)
    assert not any(isinstance(c, CheckClient) for c in book.log)


def test_a_client_gone_while_paused_is_abandoned_at_once() -> None:
    book = started()
    book.stream(silent(AUDIO_AHEAD_SECONDS + 1), at=T0 + 2)
    out = book.play(ClientGone(), at=T0 + 20)
    assert out == [Abandon("client connection lost while its reading was paused")]


@settings(max_examples=200, deadline=None)
@given(
    tts=st.booleans(),
    lengths=st.lists(st.integers(min_value=3, max_value=25), min_size=1, max_size=6),
    script=st.lists(st.sampled_from(["audio", "final", "tts", "fail", "respoken"]), max_size=60),
)
def test_moves_at_any_point_deliver_every_final_exactly_once_in_order(
    tts: bool, lengths: list[int], script: list[str]
) -> None:
    """A modelled backend recognises scripted utterances (100 ms units) from where it was given
    the audio; it fails at any point, and the edge always finds another. The client gets every
    utterance's final once, in order, ids and TimingInfo continuous, one TTS each (TS1)."""
    features = "timinginfo" + (",texttospeech" if tts else "")
    book = started(features, may_move=True)
    spans, at = [], 2  # (start, end) ticks of each utterance, 200 ms apart
    for length in lengths:
        spans.append((at * TICKS // 10, (at + length) * TICKS // 10))
        at += length + 2
    written = TICKS  # started() streamed 1 s
    backend = {"base": 0, "next": 0, "speaking": False}
    respeak = [False]

    def step(kind: str) -> None:
        out: list[Command] = []
        due = [i for i, (start, end) in enumerate(spans) if start >= backend["base"]]
        if kind == "audio" and book.core.state is State.STREAMING:
            book.stream(loud(1.0), at=book.now + 0.01)
            return
        if kind == "final" and not backend["speaking"]:
            index = next((i for i in due if i >= backend["next"]), None)
            if index is None or spans[index][1] > written:
                return
            start, end = spans[index]
            base = backend["base"]
            out = book.play(Recognized(True, f"u{index}", f"U{index}", start - base, end - start))
            backend["next"], backend["speaking"] = index + 1, tts
        elif kind == "tts" and backend["speaking"]:
            book.play(SynthesisAudio(sdk_wav(100)))
            book.play(SynthesisCompleted())
            backend["speaking"] = False
        elif kind == "fail":
            out = book.play(Canceled("Error", "ServiceError", ""))
            if out and isinstance(out[-1], BackendLost):
                start = out[-1].resume_at
                moved = book.play(BackendReplaced(start))
                respeak[0] = any(isinstance(c, Resynthesize) for c in moved)
                backend.update(base=start, next=0, speaking=False)
        elif kind == "respoken" and respeak[0]:
            respeak[0] = False
            book.play(Resynthesized(bytes(320)))

    for kind in script:
        before = book.log[:]
        step(kind)
        written = sum(len(c.pcm) for c in book.log if isinstance(c, WriteAudio)) * TICKS // 32000
        assert not any(isinstance(c, CloseSession) for c in book.log[len(before) :])
    book.play(ClientClosed(1000), at=book.now + 0.01)
    written = sum(len(c.pcm) for c in book.log if isinstance(c, WriteAudio)) * TICKS // 32000
    for _ in range(3 * len(spans) + 3):
        for kind in ("respoken", "tts", "final"):
            step(kind)
    step("tts")
    book.play(Stopped(), at=book.now + 0.01)
    assert book.closes() == [CloseSession(1000, "")]
    heard = [i for i, (_, end) in enumerate(spans) if end <= written]
    finals = book.finals()
    assert [f["recognition"] for f in finals] == [f"u{i}" for i in heard]
    assert [f["id"] for f in finals] == [str(n) for n in range(len(heard))]
    assert [(f["audioTimeOffset"], f["audioTimeSize"]) for f in finals] == [
        (spans[i][0], spans[i][1] - spans[i][0]) for i in heard
    ]
    if tts:
        sends = [c for c in book.log if isinstance(c, (SendResult, SendTts))]
        kinds = ["final" if isinstance(c, SendResult) else "tts" for c in sends]
        assert kinds == ["final", "tts"] * len(heard)  # TS1, in order
