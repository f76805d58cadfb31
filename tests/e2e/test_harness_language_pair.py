"""``conformance`` picks a language pair the endpoint advertises and accepts, or says why not.

The search runs over real HTTP and WebSocket handshakes: against the stand-in legacy
endpoint (which can advertise languages and refuse pairs at will), and against ``serve``
with its defaults, the server a newcomer starts with ``make run``, where the whole run has
to pass without ``--from``, ``--to`` or a key.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from shim.harness.session.languages import PairUnavailable, choose_pair
from shim.harness.session.request import Credential
from tests.support import legacy_fake
from tests.support.paths import ROOT
from tests.support.processes import RunningProcess, shim_command, start_process

pytestmark = pytest.mark.e2e

KEY = Credential("key", legacy_fake.KEY)
LANGUAGES = {
    "speech": {
        "de-DE": {"name": "German", "language": "de"},
        "en-US": {"name": "English", "language": "en"},
    },
    "text": {
        "de": {"name": "German", "dir": "ltr"},
        "en": {"name": "English", "dir": "ltr"},
        "es": {"name": "Spanish", "dir": "ltr"},
    },
}


async def _conformance(*args: str | Path) -> tuple[int, str, str]:
    """The command as a process, the event loop free to serve the stand-in meanwhile."""
    env = {k: v for k, v in os.environ.items() if k != "TRANSLATOR_KEY"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shim.harness.cli.parsers", "conformance", *map(str, args),
        cwd=ROOT,
        env={**env, "COLUMNS": "200"},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 600)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_first_advertised_pair_the_server_accepts_is_chosen() -> None:
    behaviour = legacy_fake.Behaviour(languages=LANGUAGES, pairs={("de-DE", "es")})
    async with legacy_fake.serve(behaviour) as base:
        choice = await choose_pair(base, KEY)
    assert (choice.from_, choice.to, choice.how) == ("de-DE", "es", "accepted")
    assert [attempt.split(":")[0] for attempt in choice.tried] == [
        "en-US → de",
        "en-US → es",
        "de-DE → es",  # not de-DE → de: a translation into the spoken language is no test
    ]
    assert "HTTP 400: from=en-US to=de is not supported" in choice.tried[0]
    assert "de-DE → es (advertised by /languages, accepted by the server" in choice.describe()


async def test_a_pair_given_in_full_is_used_without_asking() -> None:
    async with legacy_fake.serve(legacy_fake.Behaviour()) as base:  # no /languages at all
        choice = await choose_pair(base, KEY, from_="fr-FR", to="it")
    assert (choice.from_, choice.to, choice.how, choice.tried) == ("fr-FR", "it", "given", [])


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (
            legacy_fake.Behaviour(),
            r"/languages\?\S+ answered HTTP 404: the endpoint has no /languages",
        ),
        (
            legacy_fake.Behaviour(languages={"speech": {}, "text": LANGUAGES["text"]}),
            r"advertises no speech languages",
        ),
        (
            legacy_fake.Behaviour(languages=LANGUAGES, pairs=set()),
            r"refused every pair tried: en-US → de: HTTP 400: .*; de-DE → es: HTTP 400",
        ),
    ],
    ids=["no-languages-endpoint", "none-advertised", "every-pair-refused"],
)
async def test_no_pair_can_be_chosen_and_the_reason_is_given(
    behaviour: legacy_fake.Behaviour, reason: str
) -> None:
    async with legacy_fake.serve(behaviour) as base:
        with pytest.raises(PairUnavailable, match=reason) as raised:
            await choose_pair(base, KEY)
    assert raised.value.reachable


async def test_a_refusal_that_is_not_about_the_pair_stops_the_search() -> None:
    behaviour = legacy_fake.Behaviour(languages=LANGUAGES, pairs={("de-DE", "es")})
    async with legacy_fake.serve(behaviour) as base:
        choice = await choose_pair(base, Credential("key", "wrong"))
    assert (choice.from_, choice.to, choice.how) == ("en-US", "de", "unchecked")
    assert len(choice.tried) == 1 and "HTTP 401" in choice.tried[0]


async def test_an_unreachable_server_is_reported_as_such() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PairUnavailable, match="failed") as raised:
        await choose_pair(f"http://127.0.0.1:{port}", KEY)
    assert not raised.value.reachable


async def test_conformance_without_a_pair_exits_2_and_says_why(tmp_path: Path) -> None:
    async with legacy_fake.serve(legacy_fake.Behaviour()) as base:
        code, out, err = await _conformance("--url", base, "--out", tmp_path / "out")
    assert code == 2, out + err
    assert "cannot choose a language pair" in err
    assert "has no /languages; pass --from and --to" in err


# -- the default server --------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProcess]:
    """``serve`` as ``make run`` starts it: embedded local Speech service, open on loopback,
    the engines ``--engine auto`` finds."""
    log = tmp_path_factory.mktemp("default-server") / "shim.log"
    running = start_process(shim_command("serve", "--port", "0"), log)
    yield running
    assert running.stop() == 0, running.log()[-3000:]


@pytest.mark.slow
async def test_conformance_against_the_default_server_passes_with_no_options(
    default_server: RunningProcess, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = await _conformance("--url", default_server.url, "--out", out)
    assert code == 0, stdout + stderr
    chosen = re.search(r"language pair: (\S+) → (\S+) \(advertised by /languages, accepted", stdout)
    assert chosen is not None, stdout
    assert chosen.group(1) == "en-US"
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert int(suite.get("tests") or 0) >= 17
    assert f"languages {chosen.group(1)} → {chosen.group(2)}" in (out / "report.html").read_text()
