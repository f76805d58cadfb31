"""The local Speech service serves batch after batch of concurrent real SDK sessions.

The service is started the way load and test harnesses often start it: stdout and stderr
are pipes, and only the ``ready`` line is ever read. Its log then fills the stderr pipe in the
second batch of 50 sessions; a service whose event loop waited on that write would stall
every connection (turns start, nothing more).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.cognitiveservices.speech as speechsdk
import pytest

from tests.support.paths import ROOT, read_pcm
from tests.support.processes import shim_command
from tests.support.sdk_harness import translation_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BATCHES = 2
SESSIONS = 50
AUDIO_MS = 3_600  # short sessions: 2 cores run 50 of them at real time beside the service
CHUNK = 3_200  # 100 ms
UTTERANCES = [
    {"offset_ms": 1060, "duration_ms": 780, "text": "Good morning, Steve."},
    {"offset_ms": 2670, "duration_ms": 640, "text": "Good morning."},
]
STOP_TIMEOUT = 30.0  # per batch, after the audio ended: a correctness bound, not a speed goal


@dataclass
class Client:
    recognizer: Any
    stream: speechsdk.audio.PushAudioInputStream
    finals: list[str] = field(default_factory=list)
    canceled: list[tuple[str, str]] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    def connect(self) -> None:
        self.recognizer.recognized.connect(self._on_recognized)
        self.recognizer.canceled.connect(self._on_canceled)
        self.recognizer.session_stopped.connect(lambda _: self.stopped.set())

    def _on_recognized(self, args: Any) -> None:
        if args.result.reason == speechsdk.ResultReason.TranslatedSpeech:
            self.finals.append(args.result.text)

    def _on_canceled(self, args: Any) -> None:
        details = args.cancellation_details
        self.canceled.append((details.reason.name, details.code.name))

    def disconnect(self) -> None:
        for signal in ("recognized", "canceled", "session_stopped"):
            getattr(self.recognizer, signal).disconnect_all()

    def release(self) -> None:
        self.recognizer = None  # destroyed here, before its stream (§10 steps 5 and 6)


@pytest.fixture
def piped_service(tmp_path: Path) -> Iterator[str]:
    """``emulator --scenario`` with stdout and stderr pipes of which only ``ready`` is read."""
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"utterances": UTTERANCES}))
    process = subprocess.Popen(
        shim_command("emulator", "--scenario", str(scenario)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert line.startswith("ready "), line
        yield line.split()[1]
    finally:
        process.terminate()
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert process.returncode == 0, stderr.decode(errors="replace")[-3000:]


def _batch(url: str, pcm: bytes) -> list[Client]:
    clients = []
    for _ in range(SESSIONS):
        stream = speechsdk.audio.PushAudioInputStream()
        recognizer = speechsdk.translation.TranslationRecognizer(
            translation_config=translation_config(url, "batch", "en-US", ["de"]),
            audio_config=speechsdk.audio.AudioConfig(stream=stream),
        )
        client = Client(recognizer, stream)
        client.connect()
        clients.append(client)
    try:
        for client in clients:
            client.recognizer.start_continuous_recognition_async().get()
        started = time.monotonic()
        for index, start in enumerate(range(0, len(pcm), CHUNK)):
            delay = started + index * CHUNK / 32_000 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for client in clients:
                client.stream.write(pcm[start : start + CHUNK])
        for client in clients:
            client.stream.close()
        deadline = time.monotonic() + STOP_TIMEOUT
        for client in clients:
            client.stopped.wait(max(0.0, deadline - time.monotonic()))
    finally:
        _shut_down(clients)
    return clients


def _shut_down(clients: list[Client]) -> None:
    """The order of usp-speech-service.md §10: stop, disconnect, release; all sessions at
    once, so a stalled service costs one stop timeout, not fifty."""
    stops = [client.recognizer.stop_continuous_recognition_async() for client in clients]
    for stop in stops:
        stop.get()
    for client in clients:
        client.disconnect()
    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(Client.release, clients))


def test_consecutive_batches_of_fifty_concurrent_sessions_each_get_every_final(
    piped_service: str,
) -> None:
    pcm = read_pcm("en-US_katie-steve-conversation.wav")[: AUDIO_MS * 32]
    expected = [u["text"] for u in UTTERANCES]
    for batch in range(BATCHES):
        clients = _batch(piped_service, pcm)
        incomplete = [
            (index, client.finals, client.canceled)
            for index, client in enumerate(clients)
            if client.finals != expected or client.canceled != [("EndOfStream", "NoError")]
        ]
        assert not incomplete, (
            f"batch {batch + 1}: {len(incomplete)} of {SESSIONS} sessions incomplete"
            f" (session, finals, cancellations): {incomplete[:3]}"
        )
