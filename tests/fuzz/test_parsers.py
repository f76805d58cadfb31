"""Fuzz targets, one per sans-I/O parser: on any input each raises only its own error type.

Hypothesis drives them in the normal test run (bounded example counts); the same functions
are the targets to point a coverage-guided fuzzer at (atheris found the deep-nesting and
bad-encoding cases these now cover). Inputs mix pure noise with mutations of valid input,
deep nesting and bytes that are not UTF-8.
"""

from __future__ import annotations

import contextlib
import json
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim.catalog.catalog import Catalog
from shim.emulator import usp
from shim.emulator.engines.scenario import ScenarioError, load_scenario, parse_fault_spec
from shim.legacy.audio import AudioNormalizer
from shim.legacy.errors import HandshakeError, SessionError
from shim.legacy.request import parse_request
from shim.wsframes import FrameError, FrameParser, Opcode, encode_frame, parse_close

pytestmark = pytest.mark.unit

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CATALOG = Catalog.bundled()

_text = st.text(max_size=60)
_names = st.sampled_from(
    [
        "api-version",
        "from",
        "to",
        "features",
        "voice",
        "format",
        "ProfanityAction",
        "ProfanityMarker",
        "subscription-key",
        "access_token",
        "X-ClientTraceId",
        "X-CorrelationId",
        "Authorization",
        "Ocp-Apim-Subscription-Key",
    ]
)
_pairs = st.lists(st.tuples(st.one_of(_names, _text), _text), max_size=12)


@FUZZ
@given(query=_pairs, headers=st.dictionaries(st.one_of(_names, _text), _text, max_size=6))
def test_legacy_request_parser_raises_only_handshake_error(
    query: list[tuple[str, str]], headers: dict[str, str]
) -> None:
    with contextlib.suppress(HandshakeError):
        parse_request(query, headers, CATALOG)


def _riff(rate: int, channels: int, bits: int, tag: int, body: bytes) -> bytes:
    block = channels * max(1, bits // 8)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    return (
        b"RIFF"
        + struct.pack("<I", 0)
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", 0)
        + body
    )


_audio_messages = st.lists(
    st.one_of(
        st.binary(max_size=400),
        st.builds(
            _riff,
            st.integers(0, 200_000),
            st.integers(0, 9),
            st.sampled_from([0, 8, 16, 24, 32, 64, 12]),
            st.sampled_from([1, 3, 0xFFFE, 7, 0]),
            st.binary(max_size=300),
        ),
    ),
    min_size=1,
    max_size=5,
)


@FUZZ
@given(messages=_audio_messages, cut=st.integers(1, 64))
def test_audio_normaliser_raises_only_session_error(messages: list[bytes], cut: int) -> None:
    normalizer = AudioNormalizer()
    with contextlib.suppress(SessionError):
        for message in messages:
            normalizer.start_message()
            for start in range(0, len(message), cut):
                normalizer.feed(message[start : start + cut])
        normalizer.finish()


@FUZZ
@given(data=st.binary(max_size=600), cut=st.integers(1, 40))
def test_frame_parser_raises_only_frame_error(data: bytes, cut: int) -> None:
    parser = FrameParser()
    with contextlib.suppress(FrameError):
        for start in range(0, len(data), cut):
            parser.feed(data[start : start + cut])


_close_payloads = st.one_of(
    st.binary(max_size=125),
    st.builds(
        lambda code, reason: struct.pack(">H", code) + reason,
        st.one_of(st.integers(0, 65535), st.sampled_from([999, 1004, 1005, 1006, 1015, 2999])),
        st.one_of(st.binary(max_size=40), st.text(max_size=30).map(str.encode)),
    ),
)


@FUZZ
@given(payload=_close_payloads, cut=st.integers(1, 20))
def test_close_frames_raise_only_frame_error_and_what_passes_is_valid(
    payload: bytes, cut: int
) -> None:
    """Every Close payload either fails (1002 or 1007) or has an allowed code and UTF-8."""
    data = encode_frame(Opcode.CLOSE, payload, mask=True)
    parser = FrameParser()
    with contextlib.suppress(FrameError):
        for start in range(0, len(data), cut):
            for frame in parser.feed(data[start : start + cut]):
                code, reason = parse_close(frame.payload)  # accepted by the parser: valid
                assert code == 1005 or 1000 <= code <= 4999
                assert reason.encode("utf-8") == payload[2:]


def _usp_text(path: str, request_id: str, body: str) -> str:
    return f"Path: {path}\r\nX-RequestId: {request_id}\r\n\r\n{body}"


_bodies = st.one_of(
    _text,
    st.integers(1, 20_000).map(lambda n: "[" * n),
    st.integers(1, 20_000).map(lambda n: '{"a":' * n),
    st.recursive(
        st.none() | st.booleans() | st.integers() | _text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
        max_leaves=20,
    ).map(json.dumps),
)


@FUZZ
@given(path=_text, request_id=_text, body=_bodies)
def test_usp_text_parsing_and_json_raise_only_usp_error(
    path: str, request_id: str, body: str
) -> None:
    with contextlib.suppress(usp.UspError):
        usp.parse_text(_usp_text(path, request_id, body)).json()


@FUZZ
@given(frame=st.binary(max_size=500))
def test_usp_binary_parsing_raises_only_usp_error(frame: bytes) -> None:
    with contextlib.suppress(usp.UspError):
        usp.parse_binary(frame).json()


@FUZZ
@given(path=_text, request_id=_text, payload=st.binary(max_size=50))
def test_usp_building_raises_only_usp_error(path: str, request_id: str, payload: bytes) -> None:
    with contextlib.suppress(usp.UspError):
        usp.build_binary(path, request_id, payload)
    with contextlib.suppress(usp.UspError):
        usp.build_text(path, request_id, {"x": 1})


_scenario_files = st.one_of(
    st.binary(max_size=300),  # not UTF-8, not JSON
    _bodies.map(str.encode),
    st.recursive(
        st.none() | st.integers() | _text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names | _text, inner),
        max_leaves=15,
    ).map(lambda document: json.dumps({"utterances": [document], "faults": []}).encode()),
)


@FUZZ
@given(content=_scenario_files)
def test_scenario_loader_raises_only_scenario_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "scenario.json"
    path.write_bytes(content)
    with contextlib.suppress(ScenarioError):
        load_scenario(path)
    with contextlib.suppress(ScenarioError):
        parse_fault_spec(content.decode("utf-8", "replace"))


def test_the_cases_the_fuzzer_found_are_each_their_parsers_own_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000)
    with pytest.raises(ScenarioError, match="nested deeper"):
        load_scenario(deep)
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes('{"utterances":[{"text":"Grüße"}]}'.encode("latin-1"))
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(latin1)
    with pytest.raises(usp.UspError):
        usp.parse_text(_usp_text("speech.context", "r", "[" * 5000)).json()
    with pytest.raises(usp.UspError):
        usp.build_binary("audio", "réquest", b"")
    with pytest.raises(usp.UspError):
        usp.build_binary("aüdio", "r", b"")
