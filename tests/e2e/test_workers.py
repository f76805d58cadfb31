"""serve --workers 2: two processes on one port, one supervisor, real sessions through both.

Which worker answers is the kernel's choice (SO_REUSEPORT spreads connections by their
addresses), so each test opens connections until it has what it needs from each worker,
within a bounded number of tries; every response says which worker sent it (X-Shim-Worker).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shim.config import ServerSettings
from shim.server.workers import Supervisor
from tests.support.processes import Emulator, RunningProcess, shim_command, start_process
from tests.support.worker_sessions import Session, handshake_status, session

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ONE = {
    "utterances": [
        {"offset_ms": 100, "duration_ms": 1200, "text": "What's the weather like?"},
    ]
}
TRIES = 40  # connections per "until each worker has ..." loop


def _start(emulator: Emulator, directory: Path, *extra: str) -> RunningProcess:
    backend = emulator.scenario(ONE)
    keys = directory / "keys.txt"
    keys.write_text("".join(f"client-{c}={backend}@westeurope\n" for c in "abcdefgh"))
    return start_process(
        shim_command(
            "serve",
            "--port",
            "0",
            "--workers",
            "2",
            "--speech-host",
            emulator.url,
            "--auth",
            "keys",
            "--client-keys",
            str(keys),
            "--max-sessions-per-key",
            "1",
            *extra,
        ),
        directory / "shim.log",
    )


@pytest.fixture(scope="module")
def workers(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningProcess]:
    running = _start(emulator, tmp_path_factory.mktemp("workers"))
    yield running
    assert running.stop() == 0


async def health(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as response:
        document: dict[str, Any] = await response.json()
        assert document["worker"]["index"] == int(response.headers["X-Shim-Worker"])
        return document


async def test_both_workers_serve_sessions_on_one_port(workers: RunningProcess) -> None:
    served: dict[str, Session] = {}
    for _ in range(TRIES):
        result = await session(workers.url, {"Ocp-Apim-Subscription-Key": "client-a"})
        assert result.finals == ["What's the weather like?"] and result.close_code == 1000
        served.setdefault(result.worker, result)
        if len(served) == 2:
            break
    assert sorted(served) == ["0", "1"]


async def test_a_token_issued_by_one_worker_is_accepted_by_the_other(
    workers: RunningProcess,
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            workers.url + "/sts/v1.0/issueToken", headers={"Ocp-Apim-Subscription-Key": "client-b"}
        ) as response,
    ):
        assert response.status == 200
        issuer, token = response.headers["X-Shim-Worker"], await response.text()
    for _ in range(TRIES):
        result = await session(workers.url, {"Authorization": f"Bearer {token}"})
        assert result.finals == ["What's the weather like?"]
        if result.worker != issuer:
            return
    pytest.fail("every session landed on the issuing worker")


async def test_the_per_key_session_limit_holds_across_workers(workers: RunningProcess) -> None:
    hold = asyncio.Event()
    connected: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    open_session = asyncio.create_task(
        session(
            workers.url, {"Ocp-Apim-Subscription-Key": "client-a"}, hold=hold, connected=connected
        )
    )
    try:
        holder = await connected  # the one session the key may have is open, on this worker
        refused_by: set[str] = set()
        for _ in range(TRIES):
            status, worker = await handshake_status(
                workers.url, {"Ocp-Apim-Subscription-Key": "client-a"}
            )
            assert status == 429, f"worker {worker} let a second session in"
            refused_by.add(worker)
            if len(refused_by) == 2:
                break
        assert refused_by == {"0", "1"}, holder
    finally:
        hold.set()
        result = await open_session
    assert result.finals == ["What's the weather like?"]
    # and the key is free again, on both workers
    status, _ = await handshake_status(workers.url, {"Ocp-Apim-Subscription-Key": "client-a"})
    assert status == 101


async def test_metrics_count_the_sessions_of_every_worker(workers: RunningProcess) -> None:
    async def total(name: str) -> float:
        async with aiohttp.ClientSession() as http, http.get(workers.url + "/metrics") as r:
            text = await r.text()
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name
        )

    async def finished() -> float:
        return await total("translator_speech_shim_sessions_total")

    for _ in range(100):  # sessions of earlier tests have ended (the gauge sums both workers)
        if await total("translator_speech_shim_sessions_open") == 0:
            break
        await asyncio.sleep(0.1)
    before = await finished()
    served = set()
    count = 0
    while len(served) < 2 and count < TRIES:
        served.add((await session(workers.url, {"Ocp-Apim-Subscription-Key": "client-b"})).worker)
        count += 1
    assert served == {"0", "1"}
    deadline = time.monotonic() + 10
    while await finished() - before < count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for _ in range(6):  # whichever worker answers the scrape counts both workers' sessions
        assert await finished() - before == count


async def test_a_killed_worker_is_replaced(emulator: Emulator, tmp_path: Path) -> None:
    running = _start(emulator, tmp_path)
    try:
        pids: dict[int, int] = {}
        for _ in range(TRIES):
            document = await health(running.url)
            pids[document["worker"]["index"]] = document["worker"]["pid"]
            if len(pids) == 2:
                break
        assert len(pids) == 2
        os.kill(pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        replaced = None
        while time.monotonic() < deadline and replaced is None:
            try:
                document = await health(running.url)
            except aiohttp.ClientError:
                continue
            worker = document["worker"]
            if worker["index"] == 0 and worker["pid"] != pids[0]:
                replaced = worker["pid"]
            await asyncio.sleep(0.05)
        assert replaced is not None, running.log()[-2000:]
        result = await session(running.url, {"Ocp-Apim-Subscription-Key": "client-a"})
        assert result.finals == ["What's the weather like?"]
        assert "worker 0 (pid" in running.log() and "restarting" in running.log()
    finally:
        assert running.stop() == 0


async def test_sigterm_drains_both_workers_and_the_supervisor_exits_zero(
    emulator: Emulator, tmp_path: Path
) -> None:
    running = _start(emulator, tmp_path, "--drain-timeout", "3")
    hold = asyncio.Event()  # never set: the sessions stay open until the drain ends them
    held: dict[str, asyncio.Task[Session]] = {}
    spare: list[asyncio.Task[Session]] = []
    try:
        for key in "abcdefgh":  # a key each: the limit is one session per key
            connected: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(
                session(
                    running.url,
                    {"Ocp-Apim-Subscription-Key": f"client-{key}"},
                    hold=hold,
                    connected=connected,
                )
            )
            worker = await connected
            if worker in held:
                spare.append(task)
            else:
                held[worker] = task
            if len(held) == 2:
                break
        assert sorted(held) == ["0", "1"], "could not place a session on each worker"
        running.process.send_signal(signal.SIGTERM)
        # The supervisor forwards the signal; from then on each worker says "not ready" while
        # its open session goes on (the drain timeout is 3 s).
        not_ready: set[str] = set()
        deadline = time.monotonic() + 2.5
        while len(not_ready) < 2 and time.monotonic() < deadline:
            try:
                async with aiohttp.ClientSession() as http, http.get(running.url + "/readyz") as r:
                    if r.status == 503:
                        not_ready.add(r.headers["X-Shim-Worker"])
            except aiohttp.ClientError:
                break
            await asyncio.sleep(0.05)
        assert not_ready == {"0", "1"}
        assert not any(task.done() for task in held.values())  # sessions still open
        results = await asyncio.gather(*held.values(), *spare)
        assert {r.close_code for r in results} == {1001}  # the drain timeout passed
        assert running.process.wait(30) == 0
    finally:
        hold.set()
        running.stop()


async def test_a_restart_right_after_a_stop_comes_up_on_the_same_port(
    emulator: Emulator, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = _start(emulator, tmp_path / "first", "--port", str(port))
    try:
        result = await session(first.url, {"Ocp-Apim-Subscription-Key": "client-a"})
        assert result.finals == ["What's the weather like?"]  # and its connection in TIME-WAIT
    finally:
        assert first.stop() == 0
    second = _start(emulator, tmp_path / "second", "--port", str(port))  # raises if not ready
    try:
        assert second.url.endswith(f":{port}")
        assert (await health(second.url))["status"] == "ok"
    finally:
        assert second.stop() == 0


async def test_a_refused_start_leaves_no_state_directory_behind() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        supervisor = Supervisor(ServerSettings(port=holder.getsockname()[1], workers=2), [])
        with pytest.raises(ValueError, match="cannot listen"):
            await supervisor.run()
    assert supervisor._state is None  # refused before its /dev/shm directory was made
