"""Real traffic: live sessions captured at the server, replayed as a set against a candidate,
and shadowed on a second Speech backend, all with the real SDK against local Speech services.

The clients are the harness's profiles of the real legacy clients (``burst`` is the Node
quickstart's way of sending, ``fragmented`` node-cognitive-services'), so a capture holds
their own framing and pacing.
"""

from __future__ import annotations

import asyncio
import copy
import html
import json
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shim.harness.recordings.messages import utterances
from shim.harness.recordings.recording import Recording, read_recording
from shim.harness.session.client import SessionOutcome, run_session
from shim.harness.session.request import Credential, build_headers, build_url
from tests.support import logscan
from tests.support.contracts import ContractSuite
from tests.support.paths import AUDIO, ROOT
from tests.support.processes import (
    Emulator,
    RunningProcess,
    Shim,
    run_tool,
    shim_args,
    shim_command,
    start_process,
)
from tests.support.scenarios import INSPECT, THREE, WEATHER

pytestmark = pytest.mark.e2e

WEATHER_WAV = "en-US_whatstheweatherlike.wav"
NODE_CLIENT = ROOT / "tests" / "js" / "legacy_half_close.js"
CHANGED = copy.deepcopy(THREE)
CHANGED["utterances"][0]["text"] = CHANGED["utterances"][0]["text"].replace("inspect", "check")
# The weather question, scripted with another word than the recording says (the offline
# engine hears the recording).
CLIMATE = {
    "utterances": [
        {
            **WEATHER["utterances"][0],
            "text": "What's the climate like?",
            "translations": {"es": "¿Cómo es el clima?"},
        }
    ]
}


async def _session(
    base: str,
    key: str,
    *,
    profile: str = "burst",
    wav: str = INSPECT,
    to: str = "de",
    features: str = "partial,texttospeech",
    speed: float = 0,
) -> SessionOutcome:
    url = build_url(base.replace("http://", "ws://"), from_="en-US", to=to, features=features)
    outcome = await run_session(
        url, build_headers(credential=Credential("key", key)), (AUDIO / wav).read_bytes(),
        profile, speed=speed,
    )  # fmt: skip
    assert outcome.ended_as_expected, outcome.problems
    return outcome


def _node_session(url: str, key: str) -> list[dict[str, Any]]:
    """The Node quickstart's way: the real `websocket` npm library, 1 s chunks of the file
    every 100 ms, its Close, then reading on (``tests/js/legacy_half_close.js``)."""
    node = shutil.which("node")
    if node is None or not (ROOT / "tests/js/node_modules/websocket").is_dir():
        pytest.skip("node or tests/js/node_modules missing (make test installs them)")
    spec = {
        "url": url, "key": key, "file": str(AUDIO / INSPECT), "chunk_bytes": 32_000,
        "interval_ms": 100, "silence_bytes": 32_000, "read_ms": 3_000,
    }  # fmt: skip
    done = subprocess.run(
        [node, str(NODE_CLIENT), json.dumps(spec)], capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 0, done.stdout + done.stderr
    return events


def _captures(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


def _client_frames(recording: Recording) -> list[tuple[str, bool, bytes | None]]:
    return [(f.opcode.name, f.fin, f.payload) for f in recording.frames if f.direction == "out"]


def _finals(recording: Recording) -> list[tuple[str, str]]:
    return [(u.final.recognition, u.final.translation) for u in utterances(recording)]


async def _metrics(base: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(base + "/metrics") as response:
        text = await response.text()
    return {
        f"{sample.name}{json.dumps(sample.labels, sort_keys=True)}": sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _metric(samples: dict[str, float], name: str, **labels: str) -> float:
    return samples.get(f"translator_speech_shim_{name}{json.dumps(labels, sort_keys=True)}", 0.0)


async def _shadow_report(base: str, sessions: int, deadline: float = 90.0) -> dict[str, Any]:
    """``/shadow.json`` once it lists ``sessions`` comparisons (shadows finish after their
    primary session, in the background)."""
    stop = time.monotonic() + deadline
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(base + "/shadow.json") as response:
                report: dict[str, Any] = await response.json()
            if len(report["sessions"]) >= sessions or time.monotonic() > stop:
                return report
            await asyncio.sleep(0.25)


def _serve(emulator: Emulator, folder: Path, name: str, *extra: str) -> RunningProcess:
    return start_process(shim_args(emulator, *extra), folder / f"{name}.log")


# -- capture -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def capturing(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningProcess, Path]]:
    """A server capturing every session (rate 1) into its own directory."""
    folder = tmp_path_factory.mktemp("capturing")
    captures = folder / "captures"
    running = _serve(
        emulator, folder, "shim", "--capture-dir", str(captures), "--capture-rate", "1"
    )
    yield running, captures
    assert running.stop() == 0, running.log()[-3000:]


@pytest.fixture(scope="module")
def captured(
    capturing: tuple[RunningProcess, Path], emulator: Emulator
) -> tuple[Path, str, dict[str, SessionOutcome]]:
    """Three real-client sessions captured: the Node quickstart on the `websocket` npm
    library, and the harness's profiles of it (burst) and of node-cognitive-services
    (fragmented frames)."""
    running, captures = capturing
    key = emulator.scenario(THREE)
    outcomes = {
        profile: asyncio.run(_session(running.url, key, profile=profile))
        for profile in ("burst", "fragmented")
    }
    url = build_url(running.url.replace("http://", "ws://"), from_="en-US", to="de")
    events = _node_session(url, key)
    finals = [e["data"] for e in events if e["event"] == "text" and e["data"]["type"] == "final"]
    assert [f["recognition"] for f in finals] == [u["text"] for u in THREE["utterances"]]
    deadline = time.monotonic() + 30
    while len(_captures(captures)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)  # the writer thread renames each file when its session has ended
    return captures, key, outcomes


def test_every_session_is_captured_whole_valid_and_without_a_secret_at_rate_1(
    captured: tuple[Path, str, dict[str, SessionOutcome]], contract: ContractSuite
) -> None:
    captures, key, outcomes = captured
    files = _captures(captures)
    assert len(files) == 3
    assert stat.S_IMODE(captures.stat().st_mode) == 0o700
    by_request = {outcome.request_id: profile for profile, outcome in outcomes.items()}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert key not in path.read_text()
        contract.recording_file(path)  # schema, contracts and the protocol rules
        recording = read_recording(path)
        by_request.pop(recording.response_header("X-RequestId"), None)
        assert _finals(recording) == [
            (u["text"], u["translations"]["de"]) for u in THREE["utterances"]
        ]
        assert recording.close is not None and recording.close["code"] == 1000
    assert by_request == {}  # the harness's two sessions are among them, and the Node client's
    for other in captures.iterdir():  # nothing else in the directory holds it either
        assert key not in other.read_text(errors="replace")


def test_a_captured_node_quickstart_session_replays_frame_for_frame_with_no_difference(
    captured: tuple[Path, str, dict[str, SessionOutcome]], shim: Shim, tmp_path: Path
) -> None:
    captures, key, _ = captured
    replays = tmp_path / "replays"
    reports = tmp_path / "report"
    done = run_tool(
        "replay-set", captures, "--url", shim.url, "--key", key, "--speed", "0",
        "--record-dir", replays, "--html", reports / "set.html",
        "--json", reports / "set.json", "--junit", reports / "set.xml",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert key not in done.stdout + done.stderr
    report = json.loads((reports / "set.json").read_text())
    assert report["passed"] and report["total"]["sessions"] == 3
    assert report["total"]["differences"] == 0 and report["total"]["disagreements"] == 0
    for captured_file in _captures(captures):
        replayed = read_recording(replays / captured_file.name)
        original = read_recording(captured_file)
        assert _client_frames(replayed) == _client_frames(original)  # frame for frame
        compare = run_tool(
            "compare", captured_file, replays / captured_file.name,
            "--html", tmp_path / f"{captured_file.stem}.html",
        )  # fmt: skip
        assert compare.returncode == 0, compare.stdout  # and `compare` agrees: no difference


def test_replaying_the_set_on_a_server_saying_one_word_differently_finds_exactly_that(
    captured: tuple[Path, str, dict[str, SessionOutcome]], shim: Shim, tmp_path: Path
) -> None:
    captures, _, _ = captured
    changed_key = shim.emulator.scenario(CHANGED)
    done = run_tool(
        "replay-set", captures, "--url", shim.url, "--key", changed_key, "--speed", "0",
        "--concurrency", "2", "--json", tmp_path / "set.json", "--junit", tmp_path / "set.xml",
        "--html", tmp_path / "set.html",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "set.json").read_text())
    total = report["total"]
    assert total["disagreements"] == 3 and total["missing"] == 0 and total["extra"] == 0
    assert total["close_changes"] == 0 and total["wer"]["recognition"] > 0
    for session in report["sessions"]:  # each session: exactly the changed utterance
        (disagreement,) = session["disagreements"]
        assert disagreement["kind"] == "text" and disagreement["index"] == 0
        assert "inspect" in disagreement["recognition_a"]
        assert disagreement["recognition_b"] == CHANGED["utterances"][0]["text"]
        assert session["breaches"] == [
            f"recognition WER {session['wer']['recognition']:.1%} (at most 0.0%)"
        ]
    junit = (tmp_path / "set.xml").read_text()
    assert junit.count("<failure") == 3 and 'failures="3"' in junit
    assert (
        html.escape(CHANGED["utterances"][0]["text"], quote=False)
        in (tmp_path / "set.html").read_text()
    )


async def test_the_capture_rate_and_each_keys_choice_decide_which_sessions_are_captured(
    emulator: Emulator, tmp_path: Path
) -> None:
    names = ("plain", "optin", "optout")
    keys = {name: logscan.known_secret(f"{name}-{os.urandom(6).hex()}") for name in names}
    keys_file = tmp_path / "keys"
    keys_file.write_text(
        f"{keys['plain']}\n{keys['optin']} capture=always\n{keys['optout']} capture=never\n"
    )
    captures = tmp_path / "captures"
    running = start_process(
        shim_command(
            "serve", "--port", "0", "--speech-host", emulator.url,
            "--speech-key", emulator.scenario(WEATHER), "--auth", "keys",
            "--client-keys", str(keys_file), "--capture-dir", str(captures),
            "--capture-rate", "0.5",
        ),
        tmp_path / "shim.log",
    )  # fmt: skip
    try:
        plain = [await _session(running.url, keys["plain"], wav=WEATHER_WAV) for _ in range(4)]
        optin = await _session(running.url, keys["optin"], wav=WEATHER_WAV)
        optout = await _session(running.url, keys["optout"], wav=WEATHER_WAV)
    finally:
        assert running.stop() == 0
    captured = {read_recording(p).response_header("X-RequestId") for p in _captures(captures)}
    assert len(captured) == 3  # half of the four plain sessions, and the opted-in one
    assert sum(1 for outcome in plain if outcome.request_id in captured) == 2
    assert optin.request_id in captured and optout.request_id not in captured
    text = "".join(p.read_text() for p in captures.iterdir() if p.is_file())
    assert not any(key in text for key in keys.values())


async def test_the_capture_directory_stays_under_its_bound_and_drops_expired_captures(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Two worker processes share one directory and its bound."""
    captures = tmp_path / "captures"
    captures.mkdir(mode=0o700)
    expired = captures / "20200101T000000Z-old.jsonl"
    expired.write_text("{}\n")
    week_ago = time.time() - 7 * 86400
    os.utime(expired, (week_ago, week_ago))
    bound = 10_000_000  # a whole-file capture of the weather question is about 4.4 MB
    running = _serve(
        emulator, tmp_path, "shim", "--workers", "2", "--capture-dir", str(captures),
        "--capture-rate", "1", "--capture-max-bytes", str(bound),
    )  # fmt: skip
    key = emulator.scenario(WEATHER)
    try:
        outcomes = [
            await _session(running.url, key, wav=WEATHER_WAV, profile="whole-file")
            for _ in range(6)
        ]
        deadline = time.monotonic() + 30
        last = outcomes[-1].request_id
        while time.monotonic() < deadline and not any(last in p.name for p in _captures(captures)):
            await asyncio.sleep(0.1)
        samples = await _metrics(running.url)
    finally:
        assert running.stop() == 0
    files = _captures(captures)
    sizes = [p.stat().st_size for p in files]
    assert not expired.exists()
    assert any(last in p.name for p in files)  # the newest is kept, the oldest went
    assert len(files) < 6 and sum(sizes) <= bound + bound // 16
    assert _metric(samples, "capture_evicted_total", reason="size") >= 6 - len(files)
    for path in files:
        assert read_recording(path).close is not None


# -- shadow ----------------------------------------------------------------------------------------


@pytest.fixture
def silent_backend() -> Iterator[str]:
    """A port that takes connections and never answers (a hanging Speech service)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"ws://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def _closed_port() -> str:
    """A port nothing listens on (a Speech service that is down)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"ws://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("failure", "problem"),
    [("fails", "failed: ConnectionFailure"), ("hangs", "did not finish within 3 s")],
)
async def test_a_failing_or_hanging_shadow_leaves_the_primary_sessions_untouched(
    failure: str, problem: str, emulator: Emulator, shim: Shim, silent_backend: str, tmp_path: Path
) -> None:
    """A client at its own pace (node-cognitive-services' fragmented frames, 10x real time);
    the same sessions on a server without a shadow are the reference."""
    backend = _closed_port() if failure == "fails" else silent_backend
    running = _serve(
        emulator, tmp_path, "shim", "--shadow-backend", backend, "--flush-timeout", "3"
    )
    key = emulator.scenario(WEATHER)

    async def session(base: str) -> SessionOutcome:
        return await _session(base, key, wav=WEATHER_WAV, profile="fragmented", speed=1.0)

    try:
        shadowed = [await session(running.url) for _ in range(2)]
        plain = [await session(shim.url) for _ in range(2)]  # no shadow
        report = await _shadow_report(running.url, 2)
        samples = await _metrics(running.url)
        async with aiohttp.ClientSession() as http, http.get(running.url + "/shadow") as response:
            page = await response.text()
    finally:
        assert running.stop() == 0
    expected = [(r.recognition, r.translation) for r in plain[0].finals]
    for outcome in shadowed:
        assert [(r.recognition, r.translation) for r in outcome.finals] == expected
        assert outcome.close_code == 1000 and len(outcome.tts) == len(expected)
    durations = [round(o.duration, 2) for o in shadowed], [round(o.duration, 2) for o in plain]
    print(f"session durations with a shadow that {failure} / without: {durations}")
    assert len(report["sessions"]) == 2
    for session in report["sessions"]:
        assert problem in session["problem"]
        assert session["missing"] == len(expected) and not session["passed"]
        assert html.escape(session["problem"], quote=False) in page  # the report says so
    assert _metric(samples, "shadow_sessions_total", result="failed") == 2
    assert _metric(samples, "shadow_sessions_total", result="compared") == 0


async def test_a_shadow_on_the_offline_engine_reports_wer_and_lists_each_disagreement(
    emulator: Emulator, local_speech_service: RunningProcess, tmp_path: Path
) -> None:
    running = _serve(emulator, tmp_path, "shim", "--shadow-backend", local_speech_service.url)
    key = emulator.scenario(CLIMATE)
    try:
        outcome = await _session(
            running.url, key, wav=WEATHER_WAV, to="es", features="partial",
            profile="fragmented", speed=1,
        )  # fmt: skip
        report = await _shadow_report(running.url, 1)
        samples = await _metrics(running.url)
        async with aiohttp.ClientSession() as http:
            async with http.get(running.url + "/shadow") as response:
                page = await response.text()
            request = report["sessions"][0]["name"]
            async with http.get(f"{running.url}/shadow/{request}") as response:
                single = await response.text()
    finally:
        assert running.stop() == 0
    assert len(outcome.finals) == 1
    (session,) = report["sessions"]
    assert session["name"] == outcome.request_id and session["problem"] is None
    assert session["finals"]["a"] == 1 and session["finals"]["b"] >= 1
    assert _metric(samples, "shadow_sessions_total", result="compared") == 1
    assert _metric(samples, "shadow_wer_count", text="recognition") == 1
    wer = _metric(samples, "shadow_wer_sum", text="recognition")
    assert wer == pytest.approx(session["wer"]["recognition"]) and wer > 0
    disagreements = session["disagreements"]
    assert disagreements and sum(
        _metric(samples, "shadow_disagreements_total", kind=kind)
        for kind in ("text", "missing", "extra")
    ) == len(disagreements)
    for disagreement in disagreements:  # each one is on the page
        for side in ("recognition_a", "recognition_b"):
            if disagreement[side]:
                assert html.escape(disagreement[side], quote=False) in page.replace("&#39;", "'")
    assert "Session comparison" in single
