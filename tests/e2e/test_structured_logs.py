"""JSON log lines from a running server: every line parses, the access log carries the
request id, and no key or token appears (the suite-wide scan checks the last part too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.legacy_ws import THREE_QUERY, header46, run_messages
from tests.support.paths import read_pcm
from tests.support.processes import Emulator, shim_args, start_process
from tests.support.scenarios import INSPECT, THREE

pytestmark = pytest.mark.e2e


def _json_lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines()]  # every line, or the test fails


async def test_json_logs_after_the_subcommand_carry_the_request_id_and_no_key(
    emulator: Emulator, tmp_path: Path
) -> None:
    running = start_process(
        shim_args(emulator, "--log-format", "json", "--log-level", "debug"),
        tmp_path / "shim.log",
    )
    key = emulator.scenario(THREE)
    try:
        outcome = await run_messages(
            running.url,
            key,
            [header46() + read_pcm(INSPECT), bytes(32_000)],
            query={**THREE_QUERY, "Subscription-Key": key, "X-ClientTraceId": "trace-42"},
            close_after_send=True,
        )
        async with aiohttp.ClientSession() as http:
            await http.get(f"{running.url}/languages?api-version=1.0&access_token=eyJ0b2tlbg")
            await http.get(f"{running.url}/livez")
    finally:
        assert running.stop() == 0
    assert len(outcome.finals) == 3
    lines = _json_lines(running.log())
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
    access = [line for line in lines if line["logger"] == "shim.access"]
    (session,) = [line for line in access if line["status"] == 101]
    assert session["method"] == "GET"
    assert session["request_id"] == outcome.request_id
    assert session["client_trace_id"] == "trace-42"
    assert session["path"].startswith("/speech/translate?")
    assert "Subscription-Key=REDACTED" in session["path"]
    assert session["remote"] == "127.0.0.1" and session["duration_s"] >= 0
    (languages,) = [line for line in access if line["path"].startswith("/languages")]
    assert (languages["status"], languages["level"]) == (200, "INFO")
    (probe,) = [line for line in access if line["path"] == "/livez"]
    assert (probe["status"], probe["level"]) == (200, "DEBUG")  # probes only when debugging
    assert languages["path"] == "/languages?api-version=1.0&access_token=REDACTED"
    assert key not in running.log() and "eyJ0b2tlbg" not in running.log()
    assert any(line["level"] == "DEBUG" for line in lines)


async def test_log_settings_come_from_the_environment(emulator: Emulator, tmp_path: Path) -> None:
    running = start_process(
        shim_args(emulator),
        tmp_path / "shim.log",
        env={"SHIM_LOG_FORMAT": "json", "SHIM_LOG_LEVEL": "WARNING"},
    )
    try:
        async with aiohttp.ClientSession() as http:
            await http.get(f"{running.url}/healthz")
    finally:
        assert running.stop() == 0
    lines = _json_lines(running.log())
    assert lines, "the token secret warning is expected"
    assert all(line["level"] in ("WARNING", "ERROR") for line in lines), lines


async def test_a_flag_before_the_subcommand_works_and_one_after_it_wins(
    emulator: Emulator, tmp_path: Path
) -> None:
    args = shim_args(emulator, "--log-format", "json")
    args.insert(args.index("serve"), "--log-format=text")
    args.insert(args.index("serve"), "--log-level=WARNING")  # not overridden after serve
    running = start_process(args, tmp_path / "shim.log")
    try:
        async with aiohttp.ClientSession() as http:
            await http.get(f"{running.url}/healthz")
    finally:
        assert running.stop() == 0
    lines = _json_lines(running.log())  # JSON, as given after serve
    assert lines, "the token secret warning is expected"
    assert not any(line["level"] == "INFO" for line in lines)  # WARNING, as given before
