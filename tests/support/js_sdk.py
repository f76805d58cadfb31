"""Microsoft's JavaScript Speech SDK in Node (``tests/js/sdk_session.js``): run a session, read
its events. The ``node`` and ``pcm_file`` fixtures are in ``tests/e2e/conftest.py``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any, NoReturn

import pytest

from tests.support.paths import ROOT

JS = ROOT / "tests" / "js"
Record = dict[str, Any]


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer's machine; in CI (CI=true), where make test installed it, fail."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


def node_executable() -> str:
    executable = shutil.which("node")
    if executable is None:
        unavailable("node is not installed (make test installs it)")
    if not (JS / "node_modules" / "microsoft-cognitiveservices-speech-sdk").is_dir():
        unavailable("the JavaScript Speech SDK is not installed (make test: npm ci in tests/js)")
    return executable


def _command(node: str, spec: dict[str, Any], browser: bool) -> list[str]:
    flags = ["--experimental-websocket"] if browser else []
    return [node, *flags, "sdk_session.js", json.dumps(spec)]


def _records(stdout: str, returncode: int, stderr: str) -> list[Record]:
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert returncode == 0, f"node exited {returncode}: {records[-5:]}\n{stderr[-2000:]}"
    return records


def run_js(
    node: str, spec: dict[str, Any], *, browser: bool = False, timeout: float = 120
) -> list[Record]:
    """One SDK session in Node; its events, in order. Fails on a non-zero exit."""
    process = subprocess.run(
        _command(node, spec, browser), cwd=JS, capture_output=True, text=True, timeout=timeout
    )
    return _records(process.stdout, process.returncode, process.stderr)


def run_js_together(
    node: str, specs: list[dict[str, Any]], *, timeout: float = 120
) -> list[list[Record]]:
    """Several SDK sessions in parallel Node processes (for sessions that must take their
    time, e.g. throttled audio); their events, in the order of ``specs``."""
    processes = [
        subprocess.Popen(
            _command(node, spec, False),
            cwd=JS,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    results = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=timeout)
            results.append(_records(stdout, process.returncode, stderr))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


def named(records: list[Record], name: str, reason: str | None = None) -> list[Record]:
    return [r for r in records if r["name"] == name and (reason is None or r["reason"] == reason)]
