"""Real traffic's parts: sampling, the keys file's capture choice, the capture directory's
bounds, the capture writer, the frame tap, the set summary's thresholds and reports."""

from __future__ import annotations

import itertools
import json
import os
import stat
from pathlib import Path

import pytest

from shim.auth.keys import ClientKeys, KeyFileError
from shim.config import ConfigError, ServerSettings, settings_from
from shim.harness.compare.comparison import compare
from shim.harness.compare.sets import SessionSummary, SetSummary, Thresholds
from shim.harness.compare.sides import read_side
from shim.harness.recordings.recording import read_recording
from shim.harness.reports.set_report import html_report, json_report, junit_xml
from shim.server import metrics
from shim.server.capture import CaptureWriter, SessionCapture
from shim.server.capture_store import CaptureStore
from shim.server.sampling import Sampler
from shim.wsframes import Control, FrameParser, Opcode, close_payload, encode_frame
from tests.support.contracts import check_recording_file
from tests.support.legacy_sessions import audio, close, session, utterance

pytestmark = pytest.mark.unit

# -- sampling ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "taken"), [(0.0, 0), (0.25, 25), (0.5, 50), (0.1, 10), (1.0, 100)]
)
def test_the_sampler_takes_exactly_its_share_spread_evenly(rate: float, taken: int) -> None:
    sampler = Sampler(rate)
    picks = [sampler.take() for _ in range(100)]
    assert sum(picks) == taken
    if 0 < rate < 1:  # evenly: every 1/rate-th session
        gaps = [i for i, p in enumerate(picks) if p]
        assert max(b - a for a, b in itertools.pairwise(gaps)) == round(1 / rate)


def test_a_keys_choice_overrules_the_sample() -> None:
    sampler = Sampler(0.0)
    assert sampler.decide("always") and not sampler.decide(None)
    assert not Sampler(1.0).decide("never")
    with pytest.raises(ValueError):
        Sampler(1.5)


def test_the_keys_file_carries_each_keys_capture_choice() -> None:
    keys = ClientKeys.parse("opted-in capture=always\nopted-out capture=never\nplain\n")
    assert keys.match("opted-in").capture == "always"  # type: ignore[union-attr]
    assert keys.match("opted-out").capture == "never"  # type: ignore[union-attr]
    assert keys.match("plain").capture is None  # type: ignore[union-attr]
    with pytest.raises(KeyFileError, match="line 1") as error:
        ClientKeys.parse("secret-key capture=sometimes")
    assert "secret-key" not in str(error.value)


def test_the_servers_log_redaction_knows_keys_with_a_capture_choice(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("first-secret capture=never\nsecond=azure-secret@westeurope capture=always\n")
    settings = ServerSettings(client_keys_file=keys)
    assert {"first-secret", "second", "azure-secret"} <= set(settings.secrets())


# -- settings ----------------------------------------------------------------------------------


class _Args:
    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)


def test_capture_and_shadow_settings_come_from_flags_or_the_environment() -> None:
    settings = settings_from(
        _Args(capture_dir="/tmp/c", capture_max_bytes="500M"),
        {"SHIM_CAPTURE_RATE": "0.25", "SHIM_SHADOW_BACKEND": "ws://127.0.0.1:9"},
    )
    assert settings.capture_dir == Path("/tmp/c") and settings.capture_rate == 0.25
    assert settings.capture_max_bytes == 500 << 20
    assert settings.shadow_backend == "ws://127.0.0.1:9" and settings.shadow_rate == 1.0


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SHIM_CAPTURE_RATE": "2"}, "--capture-rate"),
        ({"SHIM_CAPTURE_MAX_BYTES": "lots"}, "--capture-max-bytes"),
        ({"SHIM_SHADOW_BACKEND": "eastus-pool"}, "ws:// or wss://"),
        ({"SHIM_SHADOW_RATE": "-0.1"}, "--shadow-rate"),
    ],
)
def test_bad_capture_and_shadow_settings_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from(_Args(), environ)


def _pool(directory: Path) -> str:
    path = directory / "backends.yaml"
    path.write_text(
        "backends:\n"
        "  - {name: local-a, host: ws://127.0.0.1:9, max_sessions: 5}\n"
        "  - {name: local-b, host: ws://127.0.0.1:10, max_sessions: 5}\n"
    )
    return str(path)


def test_the_shadow_may_name_a_resource_of_the_pool(tmp_path: Path) -> None:
    settings = settings_from(
        _Args(auth="open", backends=_pool(tmp_path), shadow_backend="local-b"), {}
    )
    assert settings.shadow_resource == "local-b"
    url = settings_from(
        _Args(auth="open", backends=_pool(tmp_path), shadow_backend="WS://127.0.0.1:9"), {}
    )
    assert url.shadow_resource is None  # a URL, whatever its case


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"shadow_backend": "local-c"}, "no resource of that name in --backends"),
        ({"shadow_backend": "local-b", "shadow_key": "k"}, "uses its own key"),
    ],
)
def test_a_shadow_resource_the_pool_lacks_or_with_its_own_key_is_refused(
    tmp_path: Path, flags: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from(_Args(auth="open", backends=_pool(tmp_path), **flags), {})


# -- the capture directory -----------------------------------------------------------------------


def _file(directory: Path, name: str, size: int, age: float, now: float) -> Path:
    path = directory / name
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age, now - age))
    return path


def test_the_oldest_complete_captures_go_first_to_stay_under_the_size_bound(tmp_path: Path) -> None:
    now = 1_000_000.0
    store = CaptureStore(tmp_path, max_bytes=1000, retention_seconds=3600, clock=lambda: now)
    oldest = _file(tmp_path, "a.jsonl", 400, 30, now)
    middle = _file(tmp_path, "b.jsonl", 400, 20, now)
    writing = _file(tmp_path, "c.jsonl.partial", 100, 40, now)  # still being written: kept
    newest = _file(tmp_path, "d.jsonl", 100, 10, now)
    fits, evicted = store.make_room(300)
    assert fits and evicted.for_size == 1 and evicted.aged == 0
    assert not oldest.exists() and middle.exists() and writing.exists() and newest.exists()
    fits, _ = store.make_room(2000)  # more than the bound: no room, everything complete gone
    assert not fits and writing.exists() and not middle.exists() and not newest.exists()


def test_captures_older_than_the_retention_go_whatever_their_size(tmp_path: Path) -> None:
    now = 5_000_000.0
    store = CaptureStore(tmp_path, max_bytes=10**9, retention_seconds=3600, clock=lambda: now)
    aged = _file(tmp_path, "old.jsonl", 10, 3601, now)
    stale = _file(tmp_path, "crashed.jsonl.partial", 10, 7200, now)
    fresh = _file(tmp_path, "new.jsonl", 10, 3599, now)
    other = _file(tmp_path, "notes.txt", 10, 99999, now)  # not a capture: never touched
    fits, evicted = store.make_room(0)
    assert fits and evicted.aged == 2
    assert not aged.exists() and not stale.exists() and fresh.exists() and other.exists()


def test_capture_files_and_their_directory_are_owner_only(tmp_path: Path) -> None:
    store = CaptureStore(tmp_path / "captures", max_bytes=10**6, retention_seconds=60)
    store.prepare()
    os.close(store.create("one"))
    done = store.complete("one")
    assert stat.S_IMODE((tmp_path / "captures").stat().st_mode) == 0o700
    assert stat.S_IMODE(done.stat().st_mode) == 0o600 and done.name == "one.jsonl"


# -- the capture writer --------------------------------------------------------------------------


def _client_frames() -> list[bytes]:
    """A masked client's wire bytes: a message in two frames, a ping, a Close."""
    return [
        encode_frame(Opcode.BINARY, b"RIFF" + bytes(96), fin=False, mask=True),
        encode_frame(Opcode.CONTINUATION, bytes(50), fin=True, mask=True),
        encode_frame(Opcode.PING, b"hi", mask=True),
        encode_frame(Opcode.CLOSE, close_payload(1000, ""), mask=True),
    ]


def _capture(writer: CaptureWriter, name: str) -> SessionCapture:
    capture = SessionCapture(
        writer,
        name,
        url="ws://127.0.0.1:5000/speech/translate?from=en-US&to=de&Subscription-Key=sk-secret",
        request_headers=[("Host", "127.0.0.1:5000"), ("Authorization", "Bearer tok-secret")],
        origin=100.0,
        context={"command": "test"},
    )
    capture.accepted(101, [("X-RequestId", name)], 100.01)
    return capture


def _feed(capture: SessionCapture, wire: list[bytes]) -> None:
    parser = FrameParser()
    at = 100.02
    for data in wire:
        for index in range(0, len(data), 7):  # arrives in small reads: pieces of frames
            for item in parser.feed(data[index : index + 7]):
                capture.received(item, at)
        at += 0.01


def test_a_capture_keeps_the_clients_framing_and_masks_every_credential(tmp_path: Path) -> None:
    writer = CaptureWriter(CaptureStore(tmp_path, max_bytes=10**6, retention_seconds=3600))
    writer.start()
    capture = _capture(writer, "r1")
    _feed(capture, _client_frames()[:2])
    result = b'{"type":"final","id":"0","recognition":"Hi.","translation":"Hallo."}'
    capture.sent(Opcode.TEXT, True, result, 100.5)
    _feed(capture, _client_frames()[2:])
    capture.sent(Opcode.PONG, True, b"hi", 100.6)
    capture.sent(Opcode.CLOSE, True, close_payload(1000, ""), 100.7)
    capture.finish(100.8)
    writer.stop()
    (path,) = tmp_path.glob("*.jsonl")
    text = path.read_text()
    assert "secret" not in text
    recording = read_recording(path)
    client = [(f.opcode.name, f.fin, f.size) for f in recording.frames if f.direction == "out"]
    assert client == [
        ("BINARY", False, 100),
        ("CONT", True, 50),
        ("PING", True, 2),
        ("CLOSE", True, 2),
    ]
    assert recording.close is not None
    assert recording.close["by"] == "client" and recording.close["code"] == 1000
    assert check_recording_file(path) == []


def test_a_capture_the_writer_cannot_keep_up_with_is_dropped_and_counted(tmp_path: Path) -> None:
    writer = CaptureWriter(
        CaptureStore(tmp_path, max_bytes=10**6, retention_seconds=3600), queue_bytes=2000
    )  # not started: nothing leaves the queue
    before = metrics.CAPTURE_DROPPED.labels("queue_full")._value.get()
    capture = _capture(writer, "r2")
    for _ in range(3):
        capture.received(Control(Opcode.PING, b""), 100.1)
        capture.sent(Opcode.BINARY, True, bytes(900), 100.1)
    assert not capture.active
    assert metrics.CAPTURE_DROPPED.labels("queue_full")._value.get() == before + 1
    writer.start()
    writer.stop()
    assert list(tmp_path.glob("*.jsonl*")) == []  # its partial file was removed


# -- sets of comparisons -------------------------------------------------------------------------


def _side(*texts: tuple[str, str], code: int = 1000) -> object:
    frames = [*audio()]
    for index, (text, translation) in enumerate(texts):
        frames += utterance(index, text, translation, with_tts=False)
    frames += [close("out"), close("in", code)]
    return session(frames, close_code=code)


def test_a_set_counts_missing_extra_and_changed_finals_and_judges_thresholds() -> None:
    a = _side(("Hello world.", "Hallo Welt."), ("Turn on the lamp.", "Mach das Licht an."))
    b = _side(("Hello world.", "Hallo Welt."), ("Turn off the lamp.", "Mach das Licht an."))
    c = _side(("Hello world.", "Hallo Welt."), code=1011)
    same = SessionSummary("same", compare(read_side("A", "a", a), read_side("B", "b", a)))
    changed = SessionSummary("changed", compare(read_side("A", "a", a), read_side("B", "b", b)))
    short = SessionSummary("short", compare(read_side("A", "a", a), read_side("B", "c", c)))
    summary = SetSummary("set", "A", "B", [same, changed, short], Thresholds())
    assert same.passed and not changed.passed and not short.passed
    assert [d.kind for d in changed.disagreements] == ["text"]
    assert changed.recognition_wer == pytest.approx(1 / 6) and changed.translation_wer == 0
    assert short.missing == 1 and short.close_codes == (1000, 1011)
    assert any("close code 1011" in b for b in short.breaches)
    assert summary.failed == 2 and summary.missing == 1 and summary.disagreements == 2
    document = json_report(summary)
    assert (
        document["total"]["failed"] == 2
        and document["sessions"][1]["disagreements"][0]["recognition_b"] == "Turn off the lamp."
    )
    junit = junit_xml(summary, "replay-set").getroot()
    assert junit.get("failures") == "2" and len(junit.findall(".//failure")) == 2
    page = html_report(summary)
    assert "Turn off the lamp." in page and "2 OF 3 FAILED" in page
    json.dumps(document)
    again = SessionSummary("changed", changed.comparison)
    lenient = Thresholds(max_wer=0.2, max_missing=None, same_close=False)
    assert SetSummary("set", "A", "B", [again], lenient).passed


# -- shadow comparisons ----------------------------------------------------------------------------


def test_a_shadow_comparison_pairs_the_primarys_finals_with_the_shadows() -> None:
    from types import SimpleNamespace

    from shim.server.shadow import Final, PrimarySide
    from shim.server.shadow_store import shadow_comparison
    from shim.wsframes import DataChunk

    primary = PrimarySide()
    primary.received(DataChunk(Opcode.BINARY, b"RIFF", True, False), 10.0)
    primary.received(DataChunk(Opcode.BINARY, b"more", False, False), 10.5)  # not the first
    timing = ',"audioTimeOffset":1000000,"audioTimeSize":5000000'
    for at, text in (
        (10.2, '{"type":"partial","id":"0.1","recognition":"Turn","translation":"Mach"}'),
        (11.0, '{"type":"final","id":"0","recognition":"Turn on the lamp.","translation":'
         '"Mach das Licht an."' + timing + "}"),
        (12.0, '{"type":"final","id":"1","recognition":"Thank you.","translation":"Danke."}'),
        (12.5, "not json"),
    ):  # fmt: skip
        primary.sent(Opcode.TEXT, True, text.encode(), at)
    primary.sent(Opcode.CLOSE, True, close_payload(1000, ""), 13.0)
    shadow = SimpleNamespace(
        finals=[
            Final(
                {
                    "type": "final",
                    "id": "0",
                    "recognition": "Turn on the lamp.",
                    "translation": "Mach das Licht an.",
                },
                11.25,
            ),
            Final(
                {
                    "type": "final",
                    "id": "1",
                    "recognition": "Thank you very much.",
                    "translation": "Danke.",
                },
                11.75,
            ),
        ]
    )
    comparison = shadow_comparison(primary, shadow, "ws://shadow")  # type: ignore[arg-type]
    summary = SessionSummary("s", comparison)
    assert primary.first_audio == 10.0 and primary.close_code == 1000
    assert summary.finals_a == 2 and summary.finals_b == 2 and summary.missing == 0
    assert [(d.kind, d.index) for d in summary.disagreements] == [("text", 1)]
    assert summary.recognition_wer == pytest.approx(2 / 6)  # "very much" over 6 words
    assert summary.latency_differences == pytest.approx([0.25, -0.25])
    assert summary.differences == 1  # the primary's timing fields are not differences
