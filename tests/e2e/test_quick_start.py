"""The README's quick start: `make run` in a fresh copy of the tree, then the client demo.

The copy reuses this run's virtual environment (``make test`` has just built it from a
fresh clone in CI), so what is checked here is the `run` target itself: that it reaches
``ready`` and serves a legacy client with no Azure account and no audio file.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _copy_tree(destination: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
        elif source.is_symlink():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(source), destination / name)
    venv = Path(sys.executable).parent.parent
    os.symlink(venv, destination / ".venv")


def test_make_run_reaches_ready_and_the_client_demo_prints_finals(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make test installs it as root)")
    tree = tmp_path / "fresh"
    tree.mkdir()
    _copy_tree(tree)
    server = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "run", "PORT=0"],
        cwd=tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert server.stdout is not None
        ready = ""
        for line in server.stdout:
            if line.startswith("ready "):
                ready = line.split()[1]
                break
        assert ready.startswith("http://127.0.0.1:"), "make run never printed its ready line"
        demo = subprocess.run(
            [
                str(tree / ".venv" / "bin" / "translator-speech-shim"),
                "client",
                "--url",
                ready,
                "--from",
                "en-US",
                "--to",
                "es",
                "--features",
                "partial,texttospeech",
                "--out",
                str(tmp_path / "tts"),
                "--speed",
                "4",
            ],
            cwd=tree,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "final 0" in demo.stdout
        assert list((tmp_path / "tts").glob("0.*"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # what Ctrl-C in the terminal does to the group
        server.wait(60)  # make itself dies of the signal; the server shuts down cleanly
    rest = server.stdout.read()
    assert "shutting down" in rest
    with pytest.raises(ProcessLookupError):
        os.killpg(server.pid, 0)  # nothing of the group is left running
