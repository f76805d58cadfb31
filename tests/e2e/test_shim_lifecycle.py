"""Session lifecycle of the drop-in server: backend faults, shutdown, leaks, TLS."""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

import pytest
import trustme

from tests.support.legacy_ws import header46, run_messages
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, Shim, shim_args, start_process
from tests.support.scenarios import INSPECT, THREE

pytestmark = pytest.mark.e2e

SILENCE = bytes(32_000)


def _whole(pcm: bytes) -> list[bytes]:
    return [header46() + pcm, SILENCE]


async def test_backend_1011_mid_session_is_invisible_to_the_legacy_client(shim: Shim) -> None:
    key = shim.emulator.scenario(
        {**THREE, "faults": [{"after_phrase": 1, "close_code": 1011, "once": True}]}
    )
    outcome = await run_messages(shim.url, key, _whole(read_pcm(INSPECT)), close_after_send=True)
    assert [f["recognition"] for f in outcome.finals] == [u["text"] for u in THREE["utterances"]]
    assert [f["id"] for f in outcome.finals] == ["0", "1", "2"]
    assert outcome.close_code == 1000


async def test_backend_4429_closes_the_legacy_session_with_1001(shim: Shim) -> None:
    key = shim.emulator.scenario({**THREE, "faults": [{"at_turn_start": True, "close_code": 4429}]})
    outcome = await run_messages(shim.url, key, _whole(read_pcm(INSPECT)))
    assert outcome.close_code == 1001
    assert outcome.finals == []


async def test_backend_authentication_failure_is_1011_without_backend_details(shim: Shim) -> None:
    key = shim.emulator.scenario({"faults": [{"at_upgrade": True, "http_status": 401}]})
    outcome = await run_messages(shim.url, key, _whole(read_pcm(INSPECT)))
    assert outcome.close_code == 1011


def _threads_and_fds(pid: int) -> tuple[int, int]:
    return len(os.listdir(f"/proc/{pid}/task")), len(os.listdir(f"/proc/{pid}/fd"))


async def test_fifty_sequential_sessions_leave_no_threads_or_sockets_behind(
    emulator: Emulator, tmp_path: Path
) -> None:
    running = start_process(shim_args(emulator), tmp_path / "shim.log")
    try:
        key = emulator.scenario(
            {"utterances": [{"offset_ms": 100, "duration_ms": 1000, "text": "Hi."}]}
        )
        pcm = read_pcm("en-US_whatstheweatherlike.wav")
        await run_messages(running.url, key, _whole(pcm), close_after_send=True)
        await asyncio.sleep(1.0)
        before = _threads_and_fds(running.process.pid)
        for _ in range(50):
            outcome = await run_messages(running.url, key, _whole(pcm), close_after_send=True)
            assert [f["recognition"] for f in outcome.finals] == ["Hi."]
        await asyncio.sleep(1.5)
        after = _threads_and_fds(running.process.pid)
        # Thread pools that grow lazily (the SDK's, our executor's) may add a thread or two
        # when the machine is loaded; a leak would add one per session, fifty here.
        assert after[0] <= before[0] + 3, f"threads {before[0]} -> {after[0]}"
        assert after[1] <= before[1], f"file descriptors {before[1]} -> {after[1]}"
    finally:
        assert running.stop() == 0


async def test_sigterm_with_open_sessions_closes_them_with_1001_and_exits_zero(
    emulator: Emulator, tmp_path: Path
) -> None:
    running = start_process(shim_args(emulator, "--drain-timeout", "1"), tmp_path / "shim.log")
    key = emulator.scenario(THREE)
    pcm = read_pcm(INSPECT)
    try:
        clients = [
            asyncio.create_task(run_messages(running.url, key, [header46() + pcm[:64000]]))
            for _ in range(3)
        ]
        await asyncio.sleep(1.5)
        loop = asyncio.get_running_loop()
        exit_code = await loop.run_in_executor(None, running.stop)
        outcomes = await asyncio.gather(*clients)
    finally:
        running.stop()
    assert exit_code == 0
    assert [o.close_code for o in outcomes] == [1001, 1001, 1001]
    assert "draining 3 open sessions" in running.log()


async def test_wss_with_a_test_certificate_gives_the_same_results(
    emulator: Emulator, shim: Shim, tmp_path: Path
) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    cert, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(cert))
    certificate.private_key_pem.write_to_path(str(key_file))
    running = start_process(
        shim_args(emulator, "--tls-cert", str(cert), "--tls-key", str(key_file)),
        tmp_path / "shim.log",
    )
    try:
        assert running.url.startswith("https://")
        client_context = ssl.create_default_context()
        authority.configure_trust(client_context)
        key = emulator.scenario(THREE)
        secure = await run_messages(
            running.url.replace("https", "wss"),
            key,
            _whole(read_pcm(INSPECT)),
            close_after_send=True,
            ssl_context=client_context,
        )
        plain = await run_messages(shim.url, key, _whole(read_pcm(INSPECT)), close_after_send=True)
    finally:
        assert running.stop() == 0
    assert secure.finals == plain.finals and len(secure.finals) == 3


async def test_idle_session_is_closed_with_1000_ER2(emulator: Emulator, tmp_path: Path) -> None:
    running = start_process(shim_args(emulator, "--idle-timeout", "1"), tmp_path / "shim.log")
    try:
        outcome = await run_messages(
            running.url, emulator.scenario(THREE), [header46()], timeout=15
        )
    finally:
        assert running.stop() == 0
    assert outcome.close_code == 1000
    assert "idle timeout" in running.log()


async def test_session_cap_closes_with_1000_after_sending_results_ER2(
    emulator: Emulator, tmp_path: Path
) -> None:
    running = start_process(
        shim_args(emulator, "--max-session-minutes", "0.05"), tmp_path / "shim.log"
    )
    pcm = read_pcm(INSPECT)
    try:
        outcome = await run_messages(
            running.url, emulator.scenario(THREE), [header46() + pcm[:320_000]], timeout=15
        )
    finally:
        assert running.stop() == 0
    assert outcome.close_code == 1000
    # The cap came in the second utterance: the backend ends it with what it heard (as Azure
    # ends every hypothesis with a phrase), and that final is sent before the Close too.
    first, cut_short = [f["recognition"] for f in outcome.finals]
    second = THREE["utterances"][1]["text"]
    assert first == THREE["utterances"][0]["text"]
    assert cut_short and second.startswith(cut_short) and cut_short != second
    assert "session time limit" in running.log()
