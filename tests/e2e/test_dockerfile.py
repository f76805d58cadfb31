"""The Docker image's command line, environment and health check, run on this machine.

There is no container engine here, so the test runs what the image would run: the
ENTRYPOINT with the image's ENV plus a deployment's settings, and the HEALTHCHECK command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.support.paths import ROOT
from tests.support.processes import start_process

pytestmark = pytest.mark.e2e

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instruction(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [
        line[len(name) + 1 :].strip() for line in joined.splitlines() if line.startswith(name + " ")
    ]


def _image_command(port: str = "0") -> list[str]:
    (entrypoint,) = _instruction("ENTRYPOINT")
    program, *args = json.loads(entrypoint)
    executable = str(Path(sys.executable).parent / program)
    return [executable, *args, "--port", port]


def _image_env() -> dict[str, str]:
    """The ENV values, with ``${NAME}`` taken from this machine (the base image's PATH)."""
    env: dict[str, str] = {}
    for line in _instruction("ENV"):
        for name, value in re.findall(r"(\w+)=(\S+)", line):
            env[name] = re.sub(r"\$\{(\w+)\}", lambda m: os.environ.get(m[1], ""), value)
    return env


def test_the_image_refuses_to_start_open_on_all_interfaces() -> None:
    result = subprocess.run(
        _image_command(),
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, **_image_env()},
    )
    assert result.returncode == 2 and "--auth" in result.stderr, result.stderr


async def test_the_image_command_line_starts_with_keys_from_the_environment(tmp_path: Path) -> None:
    env = {
        **_image_env(),
        "SHIM_AUTH": "keys",
        "SHIM_CLIENT_KEYS": "kiosk-1,kiosk-2",
        "SHIM_TOKEN_SECRET": "container-secret-0123456789abcdef",
    }
    running = start_process(_image_command(), tmp_path / "serve.log", env=env)
    try:
        port = running.url.rsplit(":", 1)[1]
        assert running.url.startswith("http://0.0.0.0:")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200 and (await response.json())["backend"] == "embedded"
            async with http.post(
                f"http://127.0.0.1:{port}/sts/v1.0/issueToken",
                headers={"Ocp-Apim-Subscription-Key": "kiosk-2"},
            ) as response:
                assert response.status == 200
            async with http.post(
                f"http://127.0.0.1:{port}/sts/v1.0/issueToken",
                headers={"Ocp-Apim-Subscription-Key": "intruder"},
            ) as response:
                assert response.status == 401
        (healthcheck,) = _instruction("HEALTHCHECK")
        command = healthcheck.split(" CMD ", 1)[1]
        probe = subprocess.run(
            command,
            shell=True,
            env={**os.environ, "SHIM_PORT": port},
            timeout=30,
            capture_output=True,
            text=True,
        )
        assert probe.returncode == 0, probe.stderr
    finally:
        assert running.stop() == 0


def test_every_debian_package_the_image_installs_exists() -> None:
    if shutil.which("apt-cache") is None:
        pytest.skip("not a Debian machine: apt-cache is missing")
    runs = [r for r in _instruction("RUN") if "apt-get install" in r]
    packages = [
        word
        for run in runs
        for word in run.split("apt-get install", 1)[1].split("&&")[0].split()
        if not word.startswith("-")
    ]
    assert "libssl3" in packages and "espeak-ng" in packages
    missing = [
        p
        for p in packages
        if subprocess.run(["apt-cache", "show", p], capture_output=True).returncode != 0
    ]
    assert missing == [], f"not in this machine's Debian package lists: {missing}"
