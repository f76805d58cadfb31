"""The pool's parts around the core: the pool file, which failures are a resource's, and the
audio a session keeps for a move."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from shim.auth.authenticator import Grant
from shim.legacy.errors import Failure
from shim.pool.file import PoolFileError, load_pool_file, single_resource
from shim.pool.replay import AudioReplay
from shim.pool.trouble import Trouble, probe_trouble, trouble_for
from shim.server.placement import Placement
from shim.server.session_backend import SessionBackend
from shim.speech.bridge import SessionOptions
from shim.speech.runtime import SpeechRuntime
from tests.support.paths import ROOT

pytestmark = pytest.mark.unit

ISSUE_EXAMPLE = """\
backends:
  - name: local-a
    host: ws://127.0.0.1:7001      # or endpoint: URL, or region: + key_env:
    max_sessions: 100
  - name: westeurope
    region: westeurope
    key_env: SPEECH_KEY_WESTEUROPE
    max_sessions: 95
    priority: 2                    # used when every priority-1 resource is full or failing
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "backends.yaml"
    path.write_text(text)
    return path


def test_the_issue_example_loads_with_its_key_from_the_environment(tmp_path: Path) -> None:
    pool = load_pool_file(_file(tmp_path, ISSUE_EXAMPLE), {"SPEECH_KEY_WESTEUROPE": "k-we"})
    local, west = pool.resources
    assert (local.name, local.kind, local.host, local.max_sessions, local.priority) == (
        "local-a",
        "host",
        "ws://127.0.0.1:7001",
        100,
        1,
    )
    assert (west.kind, west.region, west.key, west.priority, west.weight) == (
        "azure",
        "westeurope",
        "k-we",
        2,
        1.0,
    )
    assert "k-we" not in repr(west)
    assert pool.members(None) == ("local-a", "westeurope")
    assert pool.secrets() == ["k-we"]


def test_the_example_in_the_configuration_docs_loads(tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text()
    section = docs[docs.index("## A pool of Speech resources") :]
    example = section[section.index("```yaml\n") + 8 : section.index("```\n", 10)]
    keys = {"SPEECH_KEY_WESTEUROPE": "k1", "SPEECH_KEY_NORTHEUROPE": "k2"}
    pool = load_pool_file(_file(tmp_path, example), keys)
    assert pool.members(None) == ("local-a", "westeurope")
    assert pool.members("kiosks") == ("northeurope", "westeurope")
    assert pool.resource("northeurope").weight == 2.0


def test_named_pools_and_single_resources_are_what_a_client_key_may_name(tmp_path: Path) -> None:
    text = ISSUE_EXAMPLE + "pools:\n  default: [local-a]\n  kiosks: [westeurope, local-a]\n"
    pool = load_pool_file(_file(tmp_path, text), {"SPEECH_KEY_WESTEUROPE": "k"})
    assert pool.members(None) == ("local-a",)
    assert pool.members("kiosks") == ("westeurope", "local-a")
    assert pool.members("westeurope") == ("westeurope",)
    assert pool.names() == {"default", "kiosks", "local-a", "westeurope"}
    with pytest.raises(KeyError):
        pool.members("nowhere")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("backends: []\n", "$.backends: [] should be non-empty"),
        ("backends:\n  - name: a\n    host: ws://h:1\n", "'max_sessions' is a required property"),
        (
            "backends:\n  - {name: a, host: 'ws://h:1', region: x, max_sessions: 1}\n",
            "$.backends[0]: a resource needs exactly one of: region (with key_env), host or"
            " endpoint",
        ),
        (
            "backends:\n  - {name: a, region: westeurope, max_sessions: 1}\n",
            "$.backends[0]: a resource needs exactly one of",
        ),
        ("backends:\n  - {name: 'a b', host: 'ws://h:1', max_sessions: 1}\n", "$.backends[0].name"),
        ("backends:\n  - {name: a, host: 'ws://h:1', max_sessions: 0}\n", "max_sessions"),
        ("backends:\n  - {name: a, host: 'ws://h:1', max_sessions: 1, weight: 0}\n", "weight"),
        ("backends:\n  - {name: a, host: 'ws://h:1', max_sessions: 1, colour: red}\n", "colour"),
        (
            "backends:\n  - {name: a, host: 'ws://h:1', max_sessions: 1}\n"
            "  - {name: a, host: 'ws://h:2', max_sessions: 1}\n",
            "$.backends[1].name: 'a' is used by another resource",
        ),
        (
            "backends:\n  - {name: a, host: 'ws://h:1', max_sessions: 1}\npools: {p: [a, b]}\n",
            "$.pools.p: no resource named 'b' in $.backends",
        ),
        (
            "backends:\n  - {name: a, host: 'ws://h:1', max_sessions: 1}\npools: {a: [a]}\n",
            "$.pools.a: a resource has this name too",
        ),
        (
            "backends:\n  - {name: a, region: westeurope, key_env: NOT_SET, max_sessions: 1}\n",
            "$.backends[0].key_env: the environment variable NOT_SET (the key of 'a') is not set",
        ),
        ("backends: [\n", "not valid YAML at line 2, column 1"),
        ("- just a list\n", "(top level): ['just a list'] is not of type 'object'"),
    ],
)
def test_a_bad_pool_file_is_one_line_naming_the_file_and_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(PoolFileError) as caught:
        load_pool_file(path, {})
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_or_huge_pool_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PoolFileError, match="cannot read"):
        load_pool_file(tmp_path / "none.yaml", {})
    with pytest.raises(PoolFileError, match="larger than 1024 KiB"):
        load_pool_file(_file(tmp_path, "#" * (2 << 20)), {})


def test_the_cooldowns_may_be_set_for_the_pool(tmp_path: Path) -> None:
    entry = "backends:\n  - {name: a, host: 'ws://h:1', max_sessions: 1}\n"
    pool = load_pool_file(_file(tmp_path, entry), {})
    assert (pool.backoff.first, pool.backoff.longest) == (1.0, 30.0)
    text = entry + "cooldown: {first_seconds: 5, longest_seconds: 120}\n"
    pool = load_pool_file(_file(tmp_path, text), {})
    assert (pool.backoff.first, pool.backoff.longest) == (5.0, 120.0)
    text = entry + "cooldown: {first_seconds: 5, longest_seconds: 2}\n"
    with pytest.raises(PoolFileError, match=r"\$.cooldown: longest_seconds is less than first"):
        load_pool_file(_file(tmp_path, text), {})


def test_a_host_without_key_env_gets_the_local_key(tmp_path: Path) -> None:
    path = _file(tmp_path, "backends:\n  - {name: a, host: 'ws://h:1', max_sessions: 1}\n")
    (resource,) = load_pool_file(path, {}).resources
    assert resource.key == "local"


@pytest.mark.parametrize(
    ("flags", "name", "kind"),
    [
        (
            {"key": "k", "region": "westeurope", "host": None, "endpoint": None},
            "westeurope",
            "azure",
        ),
        ({"key": None, "region": None, "host": "ws://h:1", "endpoint": None}, "host", "host"),
        (
            {"key": "k", "region": None, "host": None, "endpoint": "wss://e/"},
            "endpoint",
            "endpoint",
        ),
        ({"key": None, "region": None, "host": None, "endpoint": None}, "embedded", "embedded"),
    ],
)
def test_the_single_backend_flags_are_a_pool_of_one_without_a_limit(
    flags: dict[str, str | None], name: str, kind: str
) -> None:
    (resource,) = single_resource(**flags).resources
    assert (resource.name, resource.kind, resource.max_sessions) == (name, kind, None)


# ---- which failures are the resource's ------------------------------------------------------
@pytest.mark.parametrize(
    ("failure", "code", "trouble"),
    [
        (Failure.BACKEND_THROTTLED, "TooManyRequests", Trouble.THROTTLED),
        (Failure.BACKEND_AUTH, "AuthenticationFailure", Trouble.AUTH),
        (Failure.BACKEND_AUTH, "Forbidden", Trouble.AUTH),
        (Failure.BACKEND_UNAVAILABLE, "ServiceUnavailable", Trouble.UNAVAILABLE),
        (Failure.BACKEND_ERROR, "ConnectionFailure", Trouble.CONNECT),
        (Failure.BACKEND_ERROR, "ServiceError", Trouble.ERROR),
        (Failure.BACKEND_ERROR, "ServiceTimeout", Trouble.ERROR),
        (Failure.BACKEND_ERROR, None, Trouble.ERROR),  # would not start, or stopped early
        (Failure.BACKEND_STALLED, None, Trouble.STALLED),
        (Failure.RESULTS_INCOMPLETE, None, Trouble.STALLED),
        (Failure.BACKEND_ERROR, "BadRequest", None),
        (Failure.BACKEND_ERROR, "RuntimeError", None),
        (Failure.COMPLETED, None, None),
        (Failure.CLIENT_GONE, None, None),
    ],
)
def test_only_the_resources_own_failures_count_against_it(
    failure: Failure, code: str | None, trouble: Trouble | None
) -> None:
    assert trouble_for(failure, code) is trouble


@pytest.mark.parametrize(
    ("code", "trouble"),
    [
        ("TooManyRequests", Trouble.THROTTLED),
        ("ConnectionFailure", Trouble.CONNECT),
        ("ServiceError", Trouble.ERROR),
        ("BadRequest", Trouble.ERROR),  # a probe's own request is plain: the resource refused it
        (None, Trouble.STALLED),  # no answer within the probe's timeout
    ],
)
def test_a_failed_probe_always_counts_against_the_resource(
    code: str | None, trouble: Trouble
) -> None:
    assert probe_trouble(code) is trouble


# ---- the audio kept for a move --------------------------------------------------------------
def test_the_replay_keeps_every_byte_in_order_and_starts_again_past_its_limit() -> None:
    replay = AudioReplay(limit=10)
    replay.append(b"ab")
    replay.append(b"")
    replay.append(b"cdef")
    assert (replay.audio_from(0), replay.size, replay.end) == (b"abcdef", 6, 6)
    replay.append(b"ghijkl")  # 12 bytes: over the limit, kept from byte 6 on
    assert (replay.start, replay.audio_from(0), replay.size) == (6, None, 6)
    assert replay.start_for(0) is None  # the session cannot move from the start any more
    assert replay.audio_from(3 * 625) == b"ghijkl"  # 3 samples: byte 6
    replay.append(bytes(12))  # more than the limit at once: nothing kept, its end known
    assert (replay.start, replay.size, replay.end) == (24, 0, 24)


def test_the_replay_forgets_what_a_new_backend_need_not_hear() -> None:
    replay = AudioReplay(limit=1 << 20)
    for chunk in (bytes(range(10)), bytes(range(10, 20))):
        replay.append(chunk)
    replay.keep_from(2 * 625)  # 2 samples: 4 bytes in
    assert (replay.start, replay.audio_from(2 * 625)) == (4, bytes(range(4, 20)))
    replay.keep_from(7 * 625)  # across the chunk boundary
    assert replay.audio_from(7 * 625) == bytes(range(14, 20))
    assert replay.audio_from(2 * 625) is None  # forgotten
    replay.keep_from(0)  # never backwards
    assert replay.audio_from(7 * 625) == bytes(range(14, 20))
    replay.keep_from(10**12)  # never past what was written
    assert (replay.audio_from(10 * 625), replay.size) == (b"", 0)


def test_a_move_starts_on_the_whole_sample_at_or_before_the_last_final() -> None:
    replay = AudioReplay(limit=1 << 20)
    replay.append(bytes(64_000))  # 2 s
    assert replay.start_for(8_000_400) == 8_000_000  # 0.8 s and a fraction of a sample
    assert replay.start_for(20_000_000) == 20_000_000  # the end: nothing to hear again
    assert replay.start_for(20_000_625) is None  # not written yet


TWO_HOSTS = """\
backends:
  - {name: a, host: "ws://127.0.0.1:9", max_sessions: 4}
  - {name: b, host: "ws://127.0.0.1:9", max_sessions: 4}
"""


async def test_a_start_a_move_superseded_never_fails_the_backend_that_replaced_it(
    tmp_path: Path,
) -> None:
    """A session moved while its first SDK session was still starting: whatever became of
    that start is not the session's (its failure would end the new backend's session); the
    current backend's own failure is."""
    placement = Placement(load_pool_file(_file(tmp_path, TWO_HOSTS), {}), lambda spec: {})
    seat = placement.seat(Grant("subject", "key", None), "r1")
    runtime = SpeechRuntime(lifecycle_threads=1)
    busy = threading.Event()
    runtime.lifecycle.submit(busy.wait, 30)  # the first start waits its turn behind this
    backend = SessionBackend(
        seat,
        SessionOptions("en-US", "", None, "Raw"),  # the SDK refuses an empty target
        lambda event, at: None,
        runtime=runtime,
        request_id="r1",
    )
    try:
        first = asyncio.ensure_future(backend.start())
        await asyncio.sleep(0)  # it is starting
        assert backend.move(Failure.BACKEND_THROTTLED, "TooManyRequests", 0) == 0
        assert seat.resource == "b"
        busy.set()
        assert await first is True  # it failed, after the session had moved on
        assert await backend.start() is False  # the current one's failure is the session's
        await backend.close(abandon=True)
    finally:
        busy.set()
        await runtime.close()
