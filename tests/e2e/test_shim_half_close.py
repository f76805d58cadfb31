"""Clients that end their side of the connection and keep reading (issue: "Sessions survive the
field").

The Node quickstart, NodeJs-Example and ms-translator-speech-service are built on the
`websocket` npm library, which sends its Close and at once ends its side of TCP
(shutdown(SHUT_WR); over TLS a close_notify first), then reads for 5 s. The server must take
that end of stream as a half-close, not as a vanished client: every final it owes still goes
out, then its Close. Here with the harness's npm-style client (plain TCP, the scripted engine),
a raw client that ends its stream without a Close, and our own client on the real `websocket`
library over TLS on the offline engine.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trustme
from websockets.frames import Opcode

from shim.harness.checks.conformance import HALF_CLOSE
from shim.harness.session.client import run_session
from shim.harness.session.frame_client import HandshakeRefused, MessageAssembler, connect
from shim.harness.session.request import Credential, build_url
from tests.support.contracts import ContractObserver
from tests.support.legacy_ws import header46
from tests.support.paths import AUDIO, ROOT, read_pcm
from tests.support.processes import RunningProcess, Shim, shim_command, start_process
from tests.support.scenarios import INSPECT, THREE

pytestmark = pytest.mark.e2e

EXPECTED = [u["text"] for u in THREE["utterances"]]
NODE_CLIENT = ROOT / "tests" / "js" / "legacy_half_close.js"


def _url(base: str, key: str, to: str = "de") -> str:
    return build_url(
        base, from_="en-US", to=to, features=(), credential=Credential("key", key),
        credential_form="query",
    )  # fmt: skip


async def test_whole_file_close_then_shut_wr_gets_every_final_and_1000(shim: Shim) -> None:
    key = shim.emulator.scenario(THREE)
    observer = ContractObserver()
    wav = (AUDIO / INSPECT).read_bytes()
    outcome = await run_session(_url(shim.ws_url, key), [], wav, HALF_CLOSE, **observer.hooks)
    assert outcome.problems == [], outcome.problems
    assert [r.message["recognition"] for r in outcome.finals] == EXPECTED
    assert outcome.close_code == 1000 and outcome.server_closed_first is False
    assert observer.problems == []


async def test_an_end_of_stream_without_a_close_still_gets_every_final_and_a_server_close(
    shim: Shim,
) -> None:
    key = shim.emulator.scenario(THREE)
    connection = await connect(_url(shim.ws_url, key))
    assert not isinstance(connection, HandshakeRefused)
    await connection.send_frame(Opcode.BINARY, header46() + read_pcm(INSPECT) + bytes(32_000))
    connection.half_close()  # FIN, and no Close frame
    assembler, finals, close = MessageAssembler(), list[str](), None
    while (frame := await connection.receive_frame(timeout=30)) is not None:
        if (message := assembler.feed(frame)) is not None and message.opcode is Opcode.TEXT:
            finals.append(json.loads(message.text)["recognition"])
        if frame.opcode is Opcode.CLOSE:
            close = int.from_bytes(frame.data[:2], "big")
    assert finals == EXPECTED
    assert close == 1000


# ---- our own Node client on the real `websocket` library, over TLS, offline engine ---------
@pytest.fixture(scope="module")
def tls_local_shim(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from shim.emulator.engines.local import unavailable_reason

    if (why := unavailable_reason()) is not None:
        pytest.skip(f"local engines not installed: {why}")
    node = shutil.which("node")
    if node is None or not (ROOT / "tests/js/node_modules/websocket").is_dir():
        pytest.skip("node or tests/js/node_modules missing (make test installs them)")
    directory = tmp_path_factory.mktemp("tls-local")
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    cert, key = directory / "cert.pem", directory / "key.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(cert))
    certificate.private_key_pem.write_to_path(str(key))
    authority.cert_pem.write_to_path(str(directory / "ca.pem"))
    tls = ["--tls-cert", str(cert), "--tls-key", str(key)]
    running = start_process(
        shim_command("serve", "--port", "0", "--engine", "local", *tls), directory / "shim.log"
    )
    yield running, directory / "ca.pem", node
    assert running.stop() == 0


async def _node_session(
    node: str, ca: Path, url: str, file: Path, *, chunk_bytes: int, interval_ms: int
) -> list[dict[str, Any]]:
    spec = {
        "url": url, "key": "k", "file": str(file), "chunk_bytes": chunk_bytes,
        "interval_ms": interval_ms, "silence_bytes": 32_000, "read_ms": 20_000,
    }  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        node, str(NODE_CLIENT), json.dumps(spec),
        stdout=subprocess.PIPE, env={"NODE_EXTRA_CA_CERTS": str(ca), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize(("chunk_bytes", "interval_ms"), [(0, 0), (3_200, 100)])
async def test_the_websocket_npm_library_over_tls_gets_every_final_on_the_offline_engine(
    tls_local_shim: tuple[RunningProcess, Path, str], chunk_bytes: int, interval_ms: int
) -> None:
    """The same file through a client that closes without half-closing is the reference."""
    running, ca, node = tls_local_shim
    base = running.url.replace("https://", "wss://")
    file = AUDIO / "en-US_jfk.wav"
    reference = await run_session(
        _url(base, "k", to="es"), [], file.read_bytes(), "whole-file",
        ssl=_trusting(ca), result_timeout=60,
    )  # fmt: skip
    assert reference.close_code == 1000 and len(reference.finals) >= 2
    events = await _node_session(
        node, ca, _url(base, "k", to="es"), file, chunk_bytes=chunk_bytes, interval_ms=interval_ms
    )
    kinds = [e["event"] for e in events]
    closing = kinds.index("closing")
    finals = [e["data"] for e in events if e["event"] == "text" and e["data"]["type"] == "final"]
    expected = [r.message["recognition"] for r in reference.finals]
    assert [f["recognition"] for f in finals] == expected
    if chunk_bytes == 0:  # the whole file in one message: every final came after the Close
        assert kinds.index("text") > closing
    assert {"event": "server_close", "code": 1000} in events
    assert "session end" in running.log() and "outcome=client_gone" not in running.log()


def _trusting(ca: Path) -> Any:
    import ssl

    return ssl.create_default_context(cafile=str(ca))
