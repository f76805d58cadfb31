"""Playbooks for the session core: event sequences in, the commands (and close code) out.

Every close path of a legacy session is here, without sockets, threads or a clock: the time
of each event is given. Rule ids name what each playbook checks (ER1–ER4, AI1, AI6, TS1).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.legacy.client_flow import OUTBOX_HIGH_BYTES
from shim.legacy.conduct import SessionConduct, State
from shim.legacy.errors import Failure
from shim.legacy.vocabulary import (
    Abandon,
    AudioReceived,
    BackendLost,
    BackendReplaced,
    CheckClient,
    ClientClosed,
    ClientEnded,
    ClientGone,
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
    ShutdownRequested,
    StartReading,
    TextReceived,
    Tick,
    Warn,
    WriteAudio,
)
from shim.legacy.watchdog import AUDIO_AHEAD_SECONDS, CONVERT_STEP_BYTES
from shim.speech.events import (
    BackendStarted,
    BackendStartFailed,
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

_BOOKS: list[Playbook] = []  # the playbooks of the running test


@pytest.fixture(autouse=True)
def _every_command_expected() -> Iterator[None]:
    """mitmproxy's playbooks fail on a command left over: so do these."""
    _BOOKS.clear()
    yield
    for book in _BOOKS:
        assert not book.unexpected, f"commands never expected: {_brief(book.unexpected)}"


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


@dataclass(frozen=True)
class Many:
    """In :meth:`Playbook.expect`: one or more commands of ``kind`` in a row."""

    kind: type


Expected = Command | type | Many


def _matches(command: Command, expected: Command | type) -> bool:
    return isinstance(command, expected) if isinstance(expected, type) else command == expected


def _brief(commands: object) -> str:
    """Commands as a failure message shows them (audio and speech by their size)."""
    if isinstance(commands, (list, tuple)):
        return "[" + ", ".join(_brief(c) for c in commands) + "]"
    if isinstance(commands, WriteAudio):
        return f"WriteAudio(<{len(commands.pcm)} bytes>)"
    if isinstance(commands, SendTts):
        return f"SendTts(<{len(commands.wav)} bytes>, {commands.final_id!r})"
    if isinstance(commands, SendResult):
        return f"SendResult({commands.kind}, {json.loads(commands.text).get('id')!r})"
    return repr(commands)


def _unmatched(commands: list[Command], expected: tuple[Expected, ...]) -> str | None:
    """Why ``commands`` is not exactly ``expected`` (None: it is)."""
    at = 0
    for index, item in enumerate(expected):
        if isinstance(item, Many):
            start = at
            while at < len(commands) and isinstance(commands[at], item.kind):
                at += 1
            if at == start:
                return f"expected #{index}: one or more {item.kind.__name__}"
            continue
        if at >= len(commands):
            return f"missing from #{index}: {_brief(expected[index:])}"
        if not _matches(commands[at], item):
            return f"#{index}: expected {_brief(item)}, got {_brief(commands[at])}"
        at += 1
    if at < len(commands):
        return f"unexpected, after what was expected: {_brief(commands[at:])}"
    return None


class Playbook:
    """One session's core and its clock, in mitmproxy's playbook style: ``play`` feeds an
    event at a time; :meth:`expect` then names every command given since the last ``expect``,
    in order, and fails on one extra or missing. A test ends with nothing left unexpected
    (:func:`_every_command_expected`).

    ``send`` is the client's side through the edge: events wait while the core has reading
    paused and are delivered, in order, once it resumes (as the legacy socket holds them).
    The client takes every send at once (:class:`Delivered`, as the edge's writer reports),
    unless made with ``client_reads=False``. A backend has started (:class:`StartReading`)."""

    def __init__(
        self,
        features: str = "",
        limits: Limits | None = None,
        *,
        may_move: bool = False,
        client_reads: bool = True,
        exact: bool = True,
    ) -> None:
        """``exact``: a playbook (every command expected); False: a timeline whose invariants
        the test checks over the whole log."""
        self.core = SessionConduct(
            legacy_request(features), limits or Limits(), T0, may_move=may_move
        )
        self.now = T0
        self.log: list[Command] = []
        self.unexpected: list[Command] = []  # given since the last expect()
        self.closed_at: float | None = None
        self.paused = False
        self.client_reads = client_reads
        self.waiting: list[Event] = []  # sent by the client, not yet read
        if exact:
            _BOOKS.append(self)
        self.play(BackendStarted())
        self.expect(StartReading())

    def play(self, event: Event, at: float | None = None) -> list[Command]:
        if at is not None:
            assert at >= self.now, "time runs forward"
            self.now = at
        out = self.core.handle(event, self.now)
        if self.client_reads:
            for command in list(out):
                if isinstance(command, (SendResult, SendTts)):
                    out += self.core.handle(Delivered(command.size), self.now)
        self.log += out
        self.unexpected += out
        for command in out:
            if isinstance(command, (PauseReading, ResumeReading)):
                self.paused = isinstance(command, PauseReading)
        if any(isinstance(c, (CloseSession, Abandon)) for c in out):
            self.closed_at = self.now
        if not self.paused and self.waiting:
            out += self.play(self.waiting.pop(0))
        return out

    def check(self, event: Event, *expected: Expected, at: float | None = None) -> list[Command]:
        """Play ``event``: it gives exactly ``expected`` (what was given before is expected);
        returns what it gave."""
        self.expect()
        self.play(event, at)
        return self.expect(*expected)

    def expect(self, *expected: Expected) -> list[Command]:
        """Every command given since the last call is ``expected``, exactly and in order;
        returns them."""
        given, self.unexpected = self.unexpected, []
        why = _unmatched(given, expected)
        assert why is None, f"{why}\n  given: {_brief(given)}"
        return given

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

    def sends(self) -> list[SendResult | SendTts]:
        return [c for c in self.log if isinstance(c, (SendResult, SendTts))]

    def closes(self) -> list[CloseSession]:
        return [c for c in self.log if isinstance(c, CloseSession)]

    def finals(self) -> list[dict[str, object]]:
        return [
            json.loads(c.text) for c in self.log if isinstance(c, SendResult) and c.kind == "final"
        ]


def started(
    features: str = "", limits: Limits | None = None, *, may_move: bool = False, **options: bool
) -> Playbook:
    """A session whose client sent its first second of speech."""
    book = Playbook(features, limits, may_move=may_move, **options)
    book.stream(loud(1.0), at=T0 + 1, start=True)
    book.expect(Many(WriteAudio))
    return book


# ---- client close and the flush (ER1) ------------------------------------------------------
def test_client_close_with_results_pending_sends_them_then_closes_1000_ER1() -> None:
    book = started("texttospeech")
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 1.1)
    assert book.core.state is State.FLUSHING
    book.check(final("Hello.", 0.1, 0.9), SendResult, at=T0 + 1.5)
    book.check(SynthesisAudio(sdk_wav()), at=T0 + 1.6)
    book.check(SynthesisCompleted(), SendTts, at=T0 + 1.7)  # TS1: the final's audio
    book.check(Canceled("EndOfStream", "NoError", ""), at=T0 + 1.8)
    book.check(Stopped(), CloseSession(1000, ""), at=T0 + 1.9)  # ... before the close
    assert [f["recognition"] for f in book.finals()] == ["Hello."]


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
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 1.1)
    canceled = Canceled("Error", code, "WebSocket upgrade failed: secret details")
    book.check(canceled, Many(CloseSession), at=T0 + 1.5)
    book.check(Stopped(), at=T0 + 1.6)
    (closing,) = book.closes()
    assert closing.code == close
    assert "secret" not in closing.reason  # ER4: no backend details
    assert book.core.ending is not None and book.core.ending.failure is failure


def test_backend_failure_before_the_client_close_ends_the_session_at_once_ER3() -> None:
    book = started("partial")
    book.check(hypothesis("hel", 0.0, 0.4), SendResult, at=T0 + 1.2)
    book.check(
        Canceled("Error", "AuthenticationFailure", ""),
        CloseSession(1011, "Speech backend rejected the server's credentials"),
        at=T0 + 1.3,
    )
    book.check(final("late", 0, 1), at=T0 + 1.4)  # nothing after the close


def test_backend_hang_after_the_client_close_is_1011_within_the_backend_timeout() -> None:
    book = started()
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 2)
    book.tick_until(60)
    book.expect(
        Warn("backend stopped answering after the end of audio"),
        CloseSession(1011, "Speech backend stopped responding; results were lost"),
    )
    assert book.closed_at == pytest.approx(T0 + 2 + Limits().backend_timeout)
    assert book.core.ending is not None and book.core.ending.failure is Failure.BACKEND_STALLED


def test_a_slow_backend_that_delivers_everything_ends_1000() -> None:
    book = started()
    book.stream(loud(4.0), at=T0 + 1.2)
    book.expect(Many(WriteAudio))
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 1.3)
    for index in range(5):  # 5 s late each, within the backend timeout of one another
        book.tick_until(1.3 + 5 * (index + 1))
        at = T0 + 1.3 + 5 * (index + 1)
        book.check(final(f"u{index}", index, index + 1), SendResult, at=at)
    book.check(Stopped(), CloseSession(1000, ""), at=T0 + 27)
    assert [f["recognition"] for f in book.finals()] == [f"u{i}" for i in range(5)]


def test_a_flush_that_runs_out_with_results_outstanding_is_1011() -> None:
    book = started()
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 2)
    for second in range(3, 33, 5):  # alive (partials) but never done
        book.tick_until(second)
        book.check(hypothesis("still talking", 0, second), at=T0 + second)
    book.tick_until(40)
    book.expect(
        Warn("results still pending at flush timeout"),
        CloseSession(1011, "Speech backend did not deliver every result in time"),
    )
    assert book.core.ending is not None and book.core.ending.failure is Failure.RESULTS_INCOMPLETE
    # flush_timeout, plus the 1 s of audio the backend still had to go through at the close
    assert book.closed_at == pytest.approx(T0 + 2 + Limits().flush_timeout + 1)


def test_a_client_that_drops_tcp_during_the_flush_is_abandoned_at_once() -> None:
    book = started()
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 2)
    book.check(ClientGone(), Abandon("client connection lost"), at=T0 + 2.5)
    assert book.core.state is State.CLOSED
    assert book.core.next_deadline() is None


def test_a_client_that_takes_no_result_for_the_write_timeout_is_abandoned() -> None:
    book = started("partial", client_reads=False)
    book.check(hypothesis("hel", 0.0, 0.5), SendResult, at=T0 + 2)
    assert book.core.next_deadline() == pytest.approx(T0 + 2 + Limits().write_timeout)
    book.tick_until(2 + Limits().write_timeout)
    book.expect(Abandon("client stopped reading results"))
    assert book.closed_at == pytest.approx(T0 + 2 + Limits().write_timeout)
    assert book.core.ending is not None
    assert book.core.ending.failure is Failure.CLIENT_NOT_READING


def test_each_result_the_client_takes_restarts_the_write_timeout() -> None:
    book = started("partial", client_reads=False)
    (first,) = book.check(hypothesis("he", 0.0, 0.3), SendResult, at=T0 + 2)
    book.check(hypothesis("hel", 0.0, 0.5), SendResult, at=T0 + 3)
    book.check(Delivered(len(first.text)), at=T0 + 20)  # type: ignore[union-attr]  # the second one waits from here on
    assert book.core.next_deadline() == pytest.approx(T0 + 20 + Limits().write_timeout)


def test_sends_before_the_close_still_have_the_write_timeout() -> None:
    book = started("partial", client_reads=False)
    book.check(hypothesis("hel", 0.0, 0.5), SendResult, at=T0 + 2)
    book.check(ShutdownRequested(), CloseSession(1001, "server shutting down"), at=T0 + 3)
    assert book.core.state is State.CLOSING
    book.tick_until(2 + Limits().write_timeout)
    book.expect(Abandon("client stopped reading results"))
    # the ending stays the close's: the metrics see the server's shutdown
    assert book.core.ending is not None and book.core.ending.failure is Failure.SERVER_SHUTDOWN


def test_a_client_gone_after_the_close_with_nothing_unsent_changes_nothing() -> None:
    book = started()
    book.check(ShutdownRequested(), CloseSession(1001, "server shutting down"), at=T0 + 2)
    book.check(ClientGone(), at=T0 + 2.1)  # its TCP closing after our Close
    assert book.core.next_deadline() is None


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
    book.check(event, lost, at=T0 + 1.5)
    book.check(Stopped(), at=T0 + 1.6)  # what the lost backend still says is not the session's
    book.check(BackendReplaced(), at=T0 + 1.7)
    book.check(BackendStarted(), at=T0 + 1.8)  # reading goes on: it never stopped
    book.stream(loud(1.0), at=T0 + 2)
    book.expect(WriteAudio)
    book.check(hypothesis("hel", 0.0, 0.5), SendResult, at=T0 + 2.5)
    book.check(final("Hello.", 0.0, 1.0), SendResult, KeepAudioFrom(TICKS), at=T0 + 3)
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 3.1)
    book.check(Stopped(), CloseSession(1000, ""), at=T0 + 3.5)
    assert [f["recognition"] for f in book.finals()] == ["Hello."]


def test_nowhere_to_move_ends_the_session_as_the_failure_says() -> None:
    book = started(may_move=True)
    book.check(
        Canceled("Error", "TooManyRequests", ""),
        BackendLost(Failure.BACKEND_THROTTLED, "TooManyRequests"),
        at=T0 + 1.5,
    )
    book.check(
        NoOtherBackend(),
        CloseSession(1001, "Speech backend is throttling requests; retry later"),
        at=T0 + 1.5,
    )
    assert book.core.ending is not None and book.core.ending.failure is Failure.BACKEND_THROTTLED


def test_a_silence_acknowledgement_lets_the_next_backend_start_after_it() -> None:
    book = started(may_move=True)
    book.check(silence_ack(0.0, 1.0), KeepAudioFrom(1 * TICKS), at=T0 + 1.2)
    book.check(
        Canceled("Error", "ServiceError", ""),
        BackendLost(Failure.BACKEND_ERROR, "ServiceError", 1 * TICKS),
        at=T0 + 1.3,
    )


# ---- moving mid-session --------------------------------------------------------------------
def test_a_backend_lost_mid_session_goes_on_after_the_last_final_ids_and_offsets_continuous() -> (
    None
):
    book = started("partial,timinginfo", may_move=True)
    book.stream(loud(3.0), at=T0 + 2)
    book.expect(Many(WriteAudio))
    book.check(final("one", 0.1, 0.9), SendResult, KeepAudioFrom(9_000_000), at=T0 + 2.1)
    book.check(hypothesis("tw", 1.0, 1.5), SendResult, at=T0 + 2.2)  # a partial of the next
    book.check(
        Canceled("Error", "ServiceError", ""),
        BackendLost(Failure.BACKEND_ERROR, "ServiceError", 9_000_000),
        at=T0 + 2.5,
    )
    book.check(Stopped(), at=T0 + 2.6)  # the lost backend's: not the session's
    book.check(BackendReplaced(9_000_000), at=T0 + 3)
    # the new backend counts from where it was given the audio: 0.9 s of the session's
    book.check(hypothesis("tw", 0.1, 0.6), SendResult, at=T0 + 3.2)
    book.check(final("two", 0.1, 1.0), SendResult, KeepAudioFrom(19_000_000), at=T0 + 3.5)
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 3.6)
    book.check(Stopped(), CloseSession(1000, ""), at=T0 + 3.7)
    results = [json.loads(c.text) for c in book.sends() if isinstance(c, SendResult)]
    assert [(r["id"], r["recognition"], r["audioTimeOffset"]) for r in results] == [
        ("0", "one", 1_000_000),
        ("1.1", "tw", 10_000_000),
        ("1.2", "tw", 10_000_000),
        ("1", "two", 10_000_000),
    ]


def test_a_final_whose_speech_was_in_flight_is_spoken_again_exactly_once_TS1() -> None:
    book = started("texttospeech,partial", may_move=True)
    book.stream(loud(3.0), at=T0 + 2)
    book.expect(Many(WriteAudio))
    book.check(final("one", 0.1, 0.9, "EINS"), SendResult, KeepAudioFrom(9_000_000), at=T0 + 2.1)
    book.check(SynthesisAudio(sdk_wav(800)), at=T0 + 2.2)  # half of its speech: forgotten
    book.check(hypothesis("tw", 1.0, 1.2), at=T0 + 2.3)  # held behind it: dropped
    book.check(
        Canceled("Error", "ConnectionFailure", ""),
        BackendLost(Failure.BACKEND_ERROR, "ConnectionFailure", 9_000_000),
        at=T0 + 2.4,
    )
    book.check(BackendReplaced(9_000_000), Resynthesize("0", "EINS"), at=T0 + 3)
    # the new backend's results and its own speech wait for the final's
    book.check(final("two", 0.1, 1.0, "ZWEI"), at=T0 + 3.2)
    book.check(SynthesisAudio(sdk_wav(100)), at=T0 + 3.3)
    book.check(SynthesisCompleted(), at=T0 + 3.4)
    first, two, _, second = book.check(
        Resynthesized(bytes(6400)),
        SendTts,
        SendResult,
        KeepAudioFrom(19_000_000),
        SendTts,
        at=T0 + 3.5,
    )
    assert isinstance(first, SendTts) and first.final_id == "0"
    assert len(first.wav) == 46 + 6400  # only the re-spoken audio
    assert isinstance(two, SendResult) and json.loads(two.text)["id"] == "1"
    assert isinstance(second, SendTts) and (second.final_id, len(second.wav)) == ("1", 46 + 200)
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 3.6)
    book.check(Stopped(), CloseSession(1000, ""), at=T0 + 3.7)


def test_a_backend_that_stops_before_the_final_is_spoken_again_waits_for_its_speech() -> None:
    book = started("texttospeech", may_move=True)
    book.check(final("one", 0.1, 0.9), SendResult, KeepAudioFrom(9_000_000), at=T0 + 1.1)
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 1.2)
    book.check(
        Canceled("Error", "ServiceError", ""),
        BackendLost(Failure.BACKEND_ERROR, "ServiceError", 9_000_000),
        at=T0 + 1.3,
    )
    book.check(BackendReplaced(9_000_000), Resynthesize("0", "ONE"), at=T0 + 1.4)
    book.check(Stopped(), at=T0 + 1.5)  # its 0.1 s had nothing more
    book.check(Resynthesized(bytes(3200)), SendTts, CloseSession(1000, ""), at=T0 + 1.6)


def test_a_resource_that_cannot_speak_the_final_again_is_left_too() -> None:
    book = started("texttospeech", may_move=True)
    book.check(final("one", 0.1, 0.9), SendResult, KeepAudioFrom(9_000_000), at=T0 + 1.1)
    book.check(
        Canceled("Error", "ServiceError", ""),
        BackendLost(Failure.BACKEND_ERROR, "ServiceError", 9_000_000),
        at=T0 + 1.2,
    )
    book.check(BackendReplaced(9_000_000), Resynthesize("0", "ONE"), at=T0 + 1.3)
    book.check(
        ResynthesisFailed("ServiceUnavailable"),
        BackendLost(Failure.BACKEND_UNAVAILABLE, "ServiceUnavailable", 9_000_000),
        at=T0 + 1.4,
    )
    book.check(BackendReplaced(9_000_000), Resynthesize("0", "ONE"), at=T0 + 1.5)
    (respoken,) = book.check(Resynthesized(bytes(3200)), SendTts, at=T0 + 1.6)
    assert isinstance(respoken, SendTts) and respoken.final_id == "0"
    book.check(NoOtherBackend(), at=T0 + 1.7)  # an answer nobody asked for


def test_speech_cut_short_by_its_timeout_leaves_nothing_a_move_could_save() -> None:
    book = started("texttospeech", may_move=True)
    book.check(final("one", 0.1, 0.9), SendResult, KeepAudioFrom(9_000_000), at=T0 + 1.1)
    book.tick_until(1.1 + Limits().tts_timeout)
    book.expect(
        Warn("text-to-speech of a final did not complete in time; sent what arrived"), SendTts
    )
    book.check(
        Canceled("Error", "ServiceError", ""),
        CloseSession(1011, "Speech backend error"),
        at=book.now + 1,
    )


def test_the_audio_kept_for_a_move_pauses_reading_at_the_read_ahead() -> None:
    book = started(may_move=True)
    book.stream(silent(40.0), at=T0 + 2)
    book.expect(Many(WriteAudio))
    book.check(hypothesis("long", 0.0, 35.0), at=T0 + 3)  # heard: only 6 s owed
    book.stream(silent(25.0), at=T0 + 4)  # 66 s kept since no final yet
    book.expect(Many(WriteAudio), PauseReading())
    book.check(  # what waited goes to the backend first
        final("long", 0.0, 40.0),
        SendResult,
        KeepAudioFrom(40 * TICKS),
        Many(WriteAudio),
        ResumeReading(),
        at=T0 + 5,
    )
    # without may_move the same timeline never pauses
    plain = started()
    plain.stream(silent(40.0), at=T0 + 2)
    plain.expect(Many(WriteAudio))
    plain.check(hypothesis("long", 0.0, 35.0), at=T0 + 3)
    plain.stream(silent(25.0), at=T0 + 4)
    plain.expect(Many(WriteAudio))


def test_a_phrase_longer_than_the_read_ahead_is_not_a_deadlock() -> None:
    book = started(may_move=True)
    book.stream(silent(40.0), at=T0 + 2)
    book.expect(Many(WriteAudio))
    book.check(hypothesis("long", 0.0, 35.0), at=T0 + 3)
    book.stream(silent(25.0), at=T0 + 4)
    book.expect(Many(WriteAudio), PauseReading())
    # the backend heard all but the last half second, and waits for more to end its phrase
    book.check(hypothesis("long", 0.0, 65.5), Many(WriteAudio), ResumeReading(), at=T0 + 5)
    book.stream(silent(0.4), at=T0 + 6)
    book.expect(WriteAudio)
    book.stream(silent(1.0), at=T0 + 7)  # owed 1.9 s, kept 67.4 s
    book.expect(WriteAudio, PauseReading())


def test_without_may_move_nothing_changes() -> None:
    book = started()
    book.check(
        Canceled("Error", "TooManyRequests", ""),
        CloseSession(1001, "Speech backend is throttling requests; retry later"),
        at=T0 + 1.5,
    )


def test_a_stall_before_the_first_result_moves_and_the_new_backend_gets_its_own_time() -> None:
    book = started(may_move=True)
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 2)
    book.tick_until(2 + Limits().backend_timeout)
    book.expect(BackendLost(Failure.BACKEND_STALLED, None))
    moved_at = book.now
    book.check(BackendReplaced(), at=moved_at)
    # the new backend has the whole flush again, and its own backend timeout
    assert book.core.next_deadline() == pytest.approx(moved_at + Limits().backend_timeout)
    book.check(final("Hello.", 0.0, 1.0), SendResult, KeepAudioFrom(TICKS), at=moved_at + 1)
    book.check(Stopped(), CloseSession(1000, ""), at=moved_at + 1.5)


def test_a_second_failure_while_the_edge_moves_the_session_asks_nothing_more() -> None:
    book = started(may_move=True)
    book.check(BackendStartFailed(), BackendLost(Failure.BACKEND_ERROR, None), at=T0 + 1.1)
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 1.2)
    assert book.tick_until(1.2 + 4 * Limits().backend_timeout) == []
    book.check(NoOtherBackend(), CloseSession(1011, "Speech backend error"), at=book.now)


def test_a_move_answer_nobody_asked_for_is_ignored() -> None:
    book = started(may_move=True)
    book.check(BackendReplaced(), at=T0 + 1.1)
    book.check(NoOtherBackend(), at=T0 + 1.2)
    assert book.core.state is State.STREAMING


# ---- a backend that stops without answering (never a false 1000) --------------------------
UNANSWERED = CloseSession(1011, "Speech backend did not send every final; results were lost")
UNANSWERED_WARNING = Warn("the Speech backend stopped owing finals for speech it was given")


def test_a_backend_that_stops_having_answered_none_of_its_speech_is_1011_not_1000() -> None:
    """An SDK whose connection failed before audio reached it stops without a cancellation,
    as if it were done: a session that owes speech must not take that for the end."""
    book = started()
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 1.1)
    book.check(Stopped(), UNANSWERED_WARNING, UNANSWERED, at=T0 + 1.2)
    assert book.core.ending is not None and book.core.ending.failure is Failure.BACKEND_ERROR


def test_a_pooled_session_whose_backend_stops_unanswered_moves_and_completes() -> None:
    book = started(may_move=True)
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 1.1)
    book.check(Stopped(), BackendLost(Failure.BACKEND_ERROR, None, 0), at=T0 + 1.2)
    book.check(BackendReplaced(0), at=T0 + 1.3)
    book.check(final("Hello.", 0.1, 0.9), SendResult, KeepAudioFrom(9 * TICKS // 10), at=T0 + 2)
    book.check(Stopped(), CloseSession(1000, ""), at=T0 + 2.1)
    assert [f["recognition"] for f in book.finals()] == ["Hello."]


def test_a_pooled_session_whose_backend_stops_unanswered_with_nowhere_to_go_is_1011() -> None:
    book = started(may_move=True)
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 1.1)
    book.check(Stopped(), BackendLost(Failure.BACKEND_ERROR, None, 0), at=T0 + 1.2)
    book.check(NoOtherBackend(), UNANSWERED_WARNING, UNANSWERED, at=T0 + 1.3)


def test_a_backend_that_stops_after_a_hypothesis_without_its_final_is_1011() -> None:
    """The service ends every hypothesis with a phrase before its turn ends: a hypothesis
    with words and no final after it is a final lost, whatever else was answered."""
    book = started("partial")
    book.check(final("One.", 0.0, 0.4), SendResult, at=T0 + 1.1)
    book.check(hypothesis("two", 0.5, 0.9), SendResult, at=T0 + 1.2)
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 1.3)
    book.check(Stopped(), UNANSWERED_WARNING, UNANSWERED, at=T0 + 1.4)
    assert [f["recognition"] for f in book.finals()] == ["One."]


def test_a_hypothesis_of_new_speech_while_the_last_has_no_final_means_a_final_was_lost() -> None:
    book = started("partial")
    book.check(final("One.", 0.0, 0.4), SendResult, at=T0 + 1.1)
    book.check(hypothesis("two", 0.5, 0.7), SendResult, at=T0 + 1.2)
    book.check(hypothesis("two too", 0.5, 0.9), SendResult, at=T0 + 1.3)  # the same phrase
    lost = Warn("the Speech backend went on to new speech without the last final")
    book.check(hypothesis("three", 0.95, 1.0), lost, UNANSWERED, at=T0 + 1.4)
    assert [f["recognition"] for f in book.finals()] == ["One."]


def test_a_pooled_session_moves_from_its_last_final_when_a_final_is_skipped() -> None:
    book = started("partial", may_move=True)
    book.check(final("One.", 0.0, 0.4), SendResult, KeepAudioFrom(4 * TICKS // 10), at=T0 + 1.1)
    book.check(hypothesis("two", 0.5, 0.9), SendResult, at=T0 + 1.2)
    book.check(
        hypothesis("three", 0.95, 1.0),
        BackendLost(Failure.BACKEND_ERROR, None, 4 * TICKS // 10),
        at=T0 + 1.3,
    )


def test_hypotheses_of_one_phrase_never_count_as_new_speech() -> None:
    """They share the phrase's start, whatever their length (even none)."""
    book = started("partial", exact=False)
    for end in (0.5, 0.5, 0.7, 0.9):
        book.play(hypothesis("two", 0.5, end), at=book.now + 0.1)
    book.play(final("Two.", 0.5, 0.9), at=book.now + 0.1)
    book.play(hypothesis("three", 0.95, 1.0), at=book.now + 0.1)
    assert book.closes() == [] and len(book.finals()) == 1


def test_a_hypothesis_closed_by_any_final_leaves_nothing_owed() -> None:
    for closing in (final("Two.", 0.5, 0.9), Recognized(False, "", "", 5 * TICKS // 10, 0)):
        book = started("partial", exact=False)
        book.play(hypothesis("two", 0.5, 0.9), at=T0 + 1.2)
        book.play(closing, at=T0 + 1.3)
        book.play(ClientClosed(1000), at=T0 + 1.4)
        book.play(Stopped(), at=T0 + 1.5)
        assert book.closes() == [CloseSession(1000, "")]


def test_a_backend_that_answered_anything_or_owed_only_silence_may_stop_with_1000() -> None:
    """What counts as owed is the watchdog's: a second of speech with no answer at all.
    A silence acknowledged, or audio that was silence, leaves nothing owed."""
    answered = started()
    answered.check(ClientClosed(1000), EndAudio(), at=T0 + 1.1)
    answered.check(silence_ack(0.0, 1.0), at=T0 + 1.2)
    answered.check(Stopped(), CloseSession(1000, ""), at=T0 + 1.3)
    quiet = Playbook()
    quiet.stream(silent(1.0), at=T0 + 1, start=True)
    quiet.expect(Many(WriteAudio))
    quiet.check(ClientClosed(1000), EndAudio(), at=T0 + 1.1)
    quiet.check(Stopped(), CloseSession(1000, ""), at=T0 + 1.2)


# ---- the watchdog -----------------------------------------------------------------------------
STALLED = CloseSession(1011, "Speech backend stopped responding; results were lost")


def test_a_backend_that_hangs_while_speech_streams_is_1011_within_seconds() -> None:
    book = started("partial")
    book.check(final("one", 0.2, 1.0), SendResult, at=T0 + 1.2)
    for second in range(2, 40):  # the client keeps talking; the backend says nothing more
        book.stream(loud(1.0), at=T0 + second)
        book.tick_until(second)
        if book.closes():
            break
    book.expect(Many(WriteAudio), STALLED)
    # Speech from 1 s on; answered by nothing for backend_timeout of audio and of wall time.
    assert book.now - (T0 + 1.2) <= Limits().backend_timeout + 2


def test_silence_a_backend_does_not_acknowledge_is_not_a_hang() -> None:
    book = started()
    book.check(final("one", 0.0, 1.0), SendResult, at=T0 + 1.2)
    for second in range(2, 60):
        book.stream(silent(1.0), at=T0 + second)
        book.tick_until(second)
    # A healthy service may stay quiet through ~20 s of silence (Azure's end-silence
    # timeout); nothing is lost while it does.
    book.expect(Many(WriteAudio))


def test_a_backend_hung_during_silence_is_noticed_once_the_read_ahead_is_full() -> None:
    book = started()
    book.check(final("one", 0.0, 1.0), SendResult, at=T0 + 1.2)
    for second in range(2, 200):
        if not book.paused:
            book.stream(silent(1.0), at=T0 + second)
        book.tick_until(second)
        if book.closes():
            break
    book.expect(Many(WriteAudio), PauseReading(), CheckClient(), STALLED)
    limit = 1.2 + AUDIO_AHEAD_SECONDS + 2 * Limits().backend_timeout
    assert book.closed_at is not None and book.closed_at <= T0 + limit


def test_a_burst_is_not_a_hang_while_the_backend_keeps_answering() -> None:
    book = started("partial")
    book.send_audio(loud(30.0) + silent(100.0), at=T0 + 1.1)  # the C# quickstart's whole file
    book.send(ClientClosed(1000), at=T0 + 1.2)
    book.expect(Many(WriteAudio), PauseReading())  # the read-ahead is full
    # Each acknowledged silence lets 5 s more through (a step of what waits converted, W;
    # reading resumed, R, for the next socket read; paused again, P) until the Close is read.
    steps = ["WWWRWWP", "WWRWP", "WWP", "WRWWP", "WWP", "RWWP", "WWRWP", "WWP", "WRWWP", "WWP"]
    steps += ["RWWWP", "WRWP", "WWP", "WRE"] + [""] * 12
    letters: dict[str, Expected] = {
        "W": WriteAudio,
        "R": ResumeReading(),
        "P": PauseReading(),
        "E": EndAudio(),
    }
    for step, expected in enumerate(steps, start=1):  # an event every 5 s
        assert book.tick_until(1.2 + 5 * step) == []
        ack = silence_ack(5 * step, 5 * step + 5)
        book.check(ack, *(letters[c] for c in expected), at=T0 + 1.2 + 5 * step)
    book.check(Stopped(), CloseSession(1000, ""), at=T0 + 140)


def test_after_the_close_a_backend_may_go_quietly_through_the_silence_it_owes() -> None:
    book = started()
    book.stream(loud(2.0) + silent(100.0), at=T0 + 1.1)  # speech, then 100 s of silence
    book.expect(Many(WriteAudio), PauseReading())
    book.check(ClientClosed(1000), EndAudio(), ResumeReading(), at=T0 + 1.2)
    book.check(final("speech", 0, 3.0), SendResult, at=T0 + 1.5)
    assert book.tick_until(14) == []  # 12.5 s without a word: working through 100 s of silence
    book.check(Stopped(), CloseSession(1000, ""), at=T0 + 14)


def test_after_the_close_speech_it_owes_must_be_answered_within_the_backend_timeout() -> None:
    book = started()
    book.stream(loud(5.0) + silent(100.0), at=T0 + 1.1)
    book.expect(Many(WriteAudio), PauseReading())
    book.check(ClientClosed(1000), EndAudio(), ResumeReading(), at=T0 + 1.2)
    book.tick_until(60)
    book.expect(Warn("backend stopped answering after the end of audio"), STALLED)
    assert book.closed_at == pytest.approx(T0 + 1.2 + Limits().backend_timeout)


def test_a_long_utterance_with_partials_only_is_not_a_hang() -> None:
    book = started()  # no partials asked: they still count as the backend's sign of life
    for second in range(2, 26):
        book.stream(loud(1.0), at=T0 + second)
        book.play(hypothesis("words " * second, 0, second - 0.5), at=T0 + second + 0.1)
        book.tick_until(second + 0.1)
    book.expect(Many(WriteAudio))  # RS5: no partials unasked, and no close


# ---- ER2: idle, long silence, the cap --------------------------------------------------------
def test_idle_session_flushes_then_closes_1000_ER2() -> None:
    book = started()
    book.tick_until(1 + Limits().idle_timeout)
    book.expect(EndAudio())
    assert book.now == pytest.approx(T0 + 1 + Limits().idle_timeout)
    book.check(final("last words", 0, 1), SendResult, at=book.now + 0.5)
    book.check(Stopped(), CloseSession(1000, "no audio received: idle timeout"), at=book.now + 0.6)
    assert [f["recognition"] for f in book.finals()] == ["last words"]


def test_long_silence_flushes_then_closes_1000_ER2() -> None:
    limits = Limits(silence_timeout=20)
    book = started(limits=limits)
    book.check(final("hello", 0.1, 1.0), SendResult, at=T0 + 1.5)
    for second in range(2, 30):
        book.stream(silent(1.0), at=T0 + second)
        if second % 5 == 0:  # the service acknowledges silence, as it does
            book.play(silence_ack(second - 5, second), at=T0 + second + 0.1)
        if book.core.state is State.FLUSHING:
            break
    book.expect(Many(WriteAudio), EndAudio())
    book.check(Stopped(), CloseSession(1000, "long silence: no speech heard"), at=book.now + 1)


def test_session_cap_flushes_then_closes_1000_ER2() -> None:
    book = started(limits=Limits(max_session=30))
    for second in range(2, 40):
        book.stream(loud(1.0), at=T0 + second)
        book.play(hypothesis("x", 0, second - 0.5), at=T0 + second + 0.1)
        book.tick_until(second + 0.1)
        if book.core.state is not State.STREAMING:
            break
    book.expect(Many(WriteAudio), EndAudio())
    assert book.now <= T0 + 31
    book.check(final("x", 0, 29), SendResult, at=book.now + 0.2)
    book.check(Stopped(), CloseSession(1000, "session time limit reached"), at=book.now + 0.3)


def test_a_session_paused_for_read_ahead_is_not_idle() -> None:
    book = started()
    book.check(final("one", 0.0, 1.0), SendResult, at=T0 + 1.2)  # silence is owed: no stall
    book.stream(silent(AUDIO_AHEAD_SECONDS), at=T0 + 1.5)
    book.expect(Many(WriteAudio), PauseReading())
    book.tick_until(1.5 + Limits().idle_timeout + 5)
    book.expect(Many(CheckClient))  # paused by us: not the client being idle (no EndAudio)


# ---- failures on the client's side (AI1, AI6, RFC 6455) --------------------------------------
def test_a_text_message_closes_1003_AI1() -> None:
    book = started()
    book.check(
        TextReceived(),
        CloseSession(1003, "text messages are not accepted: send audio as binary"),
        at=T0 + 2,
    )


def test_audio_without_a_header_closes_1003_AI6() -> None:
    book = Playbook()
    book.stream(b"\x01\x02" * 4000, at=T0 + 0.1)
    book.expect(CloseSession)
    (closing,) = book.closes()
    assert closing.code == 1003 and "RIFF" in closing.reason


def test_a_protocol_error_closes_1002_at_once() -> None:
    book = started()
    violation = ProtocolViolation("client frames must be masked")
    book.check(violation, CloseSession(1002, "client frames must be masked"), at=T0 + 2)


def test_drain_closes_1001_without_waiting_ER3() -> None:
    book = started()
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 2)
    book.check(ShutdownRequested(), CloseSession(1001, "server shutting down"), at=T0 + 3)


def test_a_backend_that_cannot_start_is_1011_and_reading_never_starts() -> None:
    book = Playbook()  # its backend started: reading began
    book.check(BackendStartFailed(), CloseSession(1011, "Speech backend error"), at=T0)
    fresh = SessionConduct(legacy_request(""), Limits(), T0)
    assert fresh.handle(BackendStartFailed(), T0) == [CloseSession(1011, "Speech backend error")]
    assert fresh.handle(BackendStarted(), T0) == []  # too late: the session closed


def test_reading_starts_once_when_the_first_backend_starts() -> None:
    book = Playbook()  # BackendStarted → StartReading
    book.check(BackendStarted(), at=T0 + 1)  # the next backend after a move: already reading


def test_the_backend_ending_the_session_while_audio_flows_is_1011() -> None:
    book = started()
    book.check(Canceled("EndOfStream", "NoError", ""), at=T0 + 2)
    book.check(Stopped(), CloseSession(1011, "Speech backend ended the session"), at=T0 + 2.1)


# ---- TS1 and incomplete text-to-speech -------------------------------------------------------
def test_tts_that_never_completes_is_sent_as_is_and_the_ending_is_1011_TS1() -> None:
    book = started("texttospeech")
    book.check(final("one", 0.1, 0.9), SendResult, at=T0 + 1.2)
    book.check(SynthesisAudio(sdk_wav()), at=T0 + 1.3)
    book.check(final("two", 1.0, 1.5), at=T0 + 1.6)  # held behind the first final's audio
    book.tick_until(1.3 + Limits().tts_timeout)
    book.expect(  # one's audio as it is, then two
        Warn("text-to-speech of a final did not complete in time; sent what arrived"),
        SendTts,
        SendResult,
    )
    book.check(SynthesisCompleted(), SendTts, at=book.now + 0.1)  # two's audio does complete
    book.check(ClientClosed(1000), EndAudio(), at=book.now + 0.2)
    book.check(  # something owed was cut short: never 1000
        Stopped(),
        Warn("text-to-speech of a final was cut short"),
        CloseSession(1011, "text-to-speech of a result did not complete"),
        at=book.now + 0.3,
    )
    assert book.core.ending is not None and book.core.ending.failure is Failure.RESULTS_INCOMPLETE


def test_results_held_behind_tts_are_still_sent_when_the_backend_fails() -> None:
    book = started("texttospeech,partial")
    book.check(final("one", 0.1, 0.9), SendResult, at=T0 + 1.2)
    book.check(hypothesis("tw", 1.0, 1.2), at=T0 + 1.3)  # held until one's audio
    book.check(
        Canceled("Error", "ServiceError", ""),
        SendTts,
        SendResult,
        CloseSession(1011, "Speech backend error"),
        at=T0 + 1.4,
    )


# ---- flow control -----------------------------------------------------------------------------
def test_read_ahead_pauses_reading_and_answers_resume_it() -> None:
    book = started()
    book.stream(silent(AUDIO_AHEAD_SECONDS), at=T0 + 1.5)
    book.expect(Many(WriteAudio), PauseReading())
    book.check(silence_ack(0, AUDIO_AHEAD_SECONDS - 5), Many(WriteAudio), ResumeReading())


def test_each_acknowledged_silence_lets_audio_through_a_full_read_ahead() -> None:
    """Azure ends a turn after 15-20 s of silence, and the SDK starts the next turn only when
    it is written more audio: waiting for the read-ahead to drain would wait forever."""
    book = started()
    book.stream(silent(AUDIO_AHEAD_SECONDS), at=T0 + 1.5)
    book.expect(Many(WriteAudio), PauseReading())
    # 45 s still owed, far above the resume mark: reading resumes all the same.
    book.check(silence_ack(0, 15), Many(WriteAudio), ResumeReading(), at=T0 + 2)
    book.stream(silent(15.0), at=T0 + 2.1)  # and the window is full again
    book.expect(Many(WriteAudio), PauseReading())
    book.check(final("words", 15.5, 16.5), SendResult, at=T0 + 3)  # no end of a turn


def test_an_acknowledged_silence_lets_waiting_audio_refill_the_read_ahead() -> None:
    book = started()
    book.stream(silent(AUDIO_AHEAD_SECONDS + 30), at=T0 + 1.5)  # 30 s wait, unconverted
    book.expect(Many(WriteAudio), PauseReading())
    before = len(book.log)
    # 45 s owed, 30 s wait: the window fills again (the edge is told to hold reading again)
    book.check(silence_ack(0, 15), Many(WriteAudio), PauseReading(), at=T0 + 2)
    written = sum(len(c.pcm) for c in book.log[before:] if isinstance(c, WriteAudio))
    assert 15 * 32_000 <= written <= 15 * 32_000 + CONVERT_STEP_BYTES  # the window, full again


def test_a_slow_reader_pauses_reading_until_results_are_delivered() -> None:
    book = started("texttospeech", client_reads=False)
    big = sdk_wav(OUTBOX_HIGH_BYTES)  # 2 MiB of TTS for one final
    (result,) = book.check(final("one", 0.1, 0.9), SendResult, at=T0 + 1.2)
    assert isinstance(result, SendResult)
    book.check(Delivered(result.size), at=T0 + 1.25)
    book.check(SynthesisAudio(big), at=T0 + 1.3)
    tts, _ = book.check(SynthesisCompleted(), SendTts, PauseReading(), at=T0 + 1.4)
    assert isinstance(tts, SendTts)
    book.check(Delivered(tts.size), ResumeReading(), at=T0 + 3)


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
    book = started(features, exact=False)
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
            if not book.core.closed:
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
    if not book.core.closed:
        assert book.core.next_deadline() is not None  # something will end it
    for command in book.log:
        assert not isinstance(command, WriteAudio) or command.pcm


# ---- half-close: the client's end of stream is not its disappearance -----------------------
def test_an_end_of_stream_after_the_close_keeps_the_flush_going_until_every_final_ER1() -> None:
    book = started()
    book.check(ClientClosed(1000), EndAudio(), at=T0 + 1.1)
    book.check(ClientEnded(), at=T0 + 1.1)  # the Node client's SHUT_WR
    book.check(final("one", 0.0, 0.9), SendResult, at=T0 + 3.0)
    book.check(Stopped(), CloseSession(1000, ""), at=T0 + 3.1)
    assert [f["recognition"] for f in book.finals()] == ["one"]


def test_an_end_of_stream_without_a_close_ends_the_audio_and_still_flushes() -> None:
    book = started()
    book.check(ClientEnded(), EndAudio(), at=T0 + 1.1)
    assert book.core.state is State.FLUSHING
    book.check(final("one", 0.0, 0.9), SendResult, at=T0 + 2.0)
    book.check(Stopped(), CloseSession(1000, ""), at=T0 + 2.1)
    assert [f["recognition"] for f in book.finals()] == ["one"]


@pytest.mark.parametrize(("invalid_data", "code"), [(False, 1002), (True, 1007)])
def test_an_invalid_close_frame_fails_the_session_never_1000(invalid_data: bool, code: int) -> None:
    book = started()
    book.check(final("one", 0.0, 0.9), SendResult, at=T0 + 1.05)  # what was sent stays sent
    violation = ProtocolViolation("bad close", invalid_data)
    book.check(violation, CloseSession(code, "bad close"), at=T0 + 1.1)


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
    book.expect(Many(WriteAudio), PauseReading())
    written = sum(len(c.pcm) for c in book.log if isinstance(c, WriteAudio))
    ahead = AUDIO_AHEAD_SECONDS * 32_000
    assert ahead <= written <= ahead + CONVERT_STEP_BYTES
    assert book.waiting  # the rest stays in the client's TCP buffers
    assert len(book.core._input) <= SOCKET_READ  # at most one read waits, unconverted
    # The backend answers: room for more, converted before reading resumes.
    book.check(silence_ack(0.0, 40.0), Many(WriteAudio), PauseReading(), at=T0 + 5)
    more = sum(len(c.pcm) for c in book.log if isinstance(c, WriteAudio)) - written
    assert 0 < more <= 40 * 32_000 + CONVERT_STEP_BYTES


# ---- a client behind paused reading is still checked ---------------------------------------
def test_while_reading_is_paused_the_client_is_checked_every_half_liveness_timeout() -> None:
    limits = Limits(liveness_timeout=10.0, idle_timeout=1_000, backend_timeout=1_000)
    book = started(limits=limits)
    book.stream(silent(AUDIO_AHEAD_SECONDS + 1), at=T0 + 2)
    book.expect(Many(WriteAudio), PauseReading())
    book.check(hypothesis("slow", 0.0, 1.0), at=T0 + 4)  # backend answers do not put it off
    book.tick_until(2 + 21)
    # at 7, 12, 17, 22 s: a gone client is noticed within 10 s
    book.expect(CheckClient(), CheckClient(), CheckClient(), CheckClient())
    assert book.now == T0 + 22


def test_a_reading_session_is_not_checked() -> None:
    book = started(limits=Limits(liveness_timeout=2.0, backend_timeout=1_000))
    book.realtime(loud(1.0), 10, from_s=1)
    book.tick_until(11)
    book.expect(Many(WriteAudio))


def test_a_client_gone_while_paused_is_abandoned_at_once() -> None:
    book = started()
    book.stream(silent(AUDIO_AHEAD_SECONDS + 1), at=T0 + 2)
    book.expect(Many(WriteAudio), PauseReading())
    gone = Abandon("client connection lost while its reading was paused")
    book.check(ClientGone(), gone, at=T0 + 20)


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
    book = started(features, may_move=True, exact=False)
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
    # The end of the audio ends the turn: the backend answers the rest of what it was given
    # (as Azure does with its last phrase, here the silence after the words), then stops.
    book.play(Recognized(False, "", "", 0, max(0, written - backend["base"]), silence=True))
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
