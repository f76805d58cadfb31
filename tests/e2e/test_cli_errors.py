"""The command line: ``--version``, and one line with exit 2 for every bad flag value."""

from __future__ import annotations

import os
import socket
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support.processes import shim_command

pytestmark = pytest.mark.e2e


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        shim_command(*args),
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def test_version_names_the_package_and_the_speech_sdk() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"translator-speech-shim {version('translator-speech-shim')} ")
    assert f"Azure Speech SDK {version('azure-cognitiveservices-speech')}" in result.stdout


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused start prints (log lines before it, if any, are not errors)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    assert result.stdout == ""
    return errors[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["serve", "--engine", "bogus"], "--engine 'bogus': choose auto, local, scripted"),
        (["serve", "--port", "abc"], "argument --port: invalid int value: 'abc'"),
        (["serve", "--port", "70000"], "--port 70000: choose 0 (any free port) to 65535"),
        (["emulator", "--port", "-1"], "--port -1: choose 0 (any free port) to 65535"),
        (["serve", "--idle-timeout", "0"], "--idle-timeout 0: must be more than 0"),
        (["serve", "--idle-timeout", "soon"], "argument --idle-timeout: invalid float value"),
        (["serve", "--drain-timeout", "-5"], "--drain-timeout -5: must be 0 or more"),
        (["serve", "--max-session-minutes", "nan"], "--max-session-minutes nan: must be more"),
        (["serve", "--max-sessions-per-key", "0"], "--max-sessions-per-key must be at least 1"),
        (
            ["serve", "--tls-cert", "missing-cert.pem", "--tls-key", "missing-key.pem"],
            "--tls-cert missing-cert.pem: no such file",
        ),
        (["serve", "--scenario", "no-such-scenario.json"], "--scenario no-such-scenario.json"),
        (["serve", "--auth", "keys", "--client-keys", "no-keys.txt"], "--client-keys no-keys.txt"),
        (["serve", "--log-level", "loud"], "argument --log-level: invalid choice: 'LOUD'"),
        (["emulator", "--keys", "no-keys.txt"], "--keys: [Errno 2] No such file"),
        (["--log-format", "xml", "serve"], "argument --log-format: invalid choice: 'xml'"),
    ],
)
def test_a_bad_flag_value_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    assert says in _error_line(_run(*args, "--port", "0") if "--port" not in args else _run(*args))


def test_a_tls_key_that_does_not_load_names_both_files(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("not a certificate\n")
    key.write_text("not a key\n")
    line = _error_line(_run("serve", "--port", "0", "--tls-cert", str(cert), "--tls-key", str(key)))
    assert f"--tls-cert {cert} --tls-key {key}: cannot load" in line


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("SHIM_LOG_FORMAT", "yaml", "SHIM_LOG_FORMAT='yaml': choose text, json"),
        ("SHIM_LOG_LEVEL", "chatty", "SHIM_LOG_LEVEL='CHATTY': choose DEBUG, INFO, WARNING"),
        ("SHIM_PORT", "http", "--port: 'http' is not a number"),
        ("SHIM_ENGINE", "whisper", "--engine 'whisper': choose auto, local, scripted"),
    ],
)
def test_a_bad_setting_in_the_environment_is_one_line_and_exit_2(
    variable: str, value: str, says: str
) -> None:
    assert says in _error_line(_run("serve", env={variable: value}))


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("serve", "--engine", "scripted", "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in _error_line(result)
