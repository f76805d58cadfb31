"""record, validate, replay, conformance and compare as processes against the real stack.

The drop-in server runs in front of the local Speech service (session fixtures); the
client key picks the scenario, so side B of a comparison can say one word differently.
Every recording the commands write goes through the contract checks, and the HTML
reports are rendered by headless Chromium.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from shim.harness.cli import parsers
from shim.harness.recordings.messages import utterances
from shim.harness.recordings.recording import read_recording
from tests.support import chromium
from tests.support.contracts import ContractSuite
from tests.support.paths import AUDIO
from tests.support.processes import Shim, run_tool
from tests.support.scenarios import INSPECT, THREE, WEATHER

pytestmark = pytest.mark.e2e

FEATURES = "partial,texttospeech,timinginfo"
CHANGED = copy.deepcopy(THREE)
CHANGED["utterances"][0]["text"] = CHANGED["utterances"][0]["text"].replace("inspect", "check")
CHANGED["utterances"][0]["translations"]["de"] = (
    "Custom Speech bietet Werkzeuge zur Kontrolle der Qualität."
)


def tool(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``translator-speech-shim COMMAND …`` as a process (the tools' own entry point)."""
    return run_tool(*args, timeout=timeout)


def table_rows(output: str) -> dict[str, tuple[str, str, str]]:
    """``rule → (result, frame, detail)`` from the rules table ``validate`` prints."""
    rows: dict[str, tuple[str, str, str]] = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 4 and cells[0]:
            rows[cells[0]] = (cells[1], cells[2], cells[3])
    return rows


def finals(path: Path) -> list[tuple[str, str]]:
    return [(u.final.recognition, u.final.translation) for u in utterances(read_recording(path))]


@dataclass
class Recorded:
    a: Path
    b: Path
    key_a: str
    key_b: str


@pytest.fixture(scope="module")
def recorded(shim: Shim, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """Side A with THREE, side B with one word changed; both whole-file with timing."""
    folder = tmp_path_factory.mktemp("recordings")
    keys = shim.emulator.scenario(THREE), shim.emulator.scenario(CHANGED)
    paths = folder / "a.jsonl", folder / "b.jsonl"
    for key, path in zip(keys, paths, strict=True):
        done = tool(
            "record", AUDIO / INSPECT, "--url", shim.url, "--key", key, "--to", "de",
            "--features", FEATURES, "--profile", "whole-file", "--speed", "0", "-o", path,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert key not in path.read_text() and key not in done.stdout + done.stderr
    return Recorded(paths[0], paths[1], keys[0], keys[1])


# -- record and validate -------------------------------------------------------------------


def test_record_writes_every_frame_and_validate_passes(
    recorded: Recorded, contract: ContractSuite
) -> None:
    lines = [json.loads(line) for line in recorded.a.read_text().splitlines()]
    header, frames, close = lines[0], lines[1:-1], lines[-1]
    assert header["record"] == "header" and header["response"]["status"] == 101
    assert "subscription-key" not in header["request"]["url"]
    assert ["Ocp-Apim-Subscription-Key", "***"] in header["request"]["headers"]
    assert close == {**close, "record": "close", "code": 1000, "by": "client"}
    assert [f["n"] for f in frames] == list(range(1, len(frames) + 1))
    client = [f for f in frames if f["dir"] == "out" and f["opcode"] == "binary"]
    assert client and all("data" in f for f in client)  # client audio kept for replay
    tts = [f for f in frames if f["dir"] == "in" and f["opcode"] == "binary"]
    assert len(tts) == 3 and all("head" in f and "data" not in f for f in tts)
    assert finals(recorded.a) == [(u["text"], u["translations"]["de"]) for u in THREE["utterances"]]
    contract.recording_file(recorded.a)

    done = tool("validate", recorded.a)
    assert done.returncode == 0, done.stdout + done.stderr
    results = table_rows(done.stdout)
    for rule in ("RC1", "HS2", "CT1", "RS3", "RS4", "RS7", "TS1", "TS2", "TS3", "ER3"):
        assert results[rule][0] == "PASS", (rule, results[rule])
    assert "FAIL" not in done.stdout


def _tamper(source: Path, target: Path, change: str) -> None:
    lines = [json.loads(line) for line in source.read_text().splitlines()]
    for line in lines:
        if change == "final id" and '"type":"final","id":"1"' in line.get("text", ""):
            line["text"] = line["text"].replace('"id":"1"', '"id":"7"')
        elif change == "request id" and line["record"] == "header":
            headers = line["response"]["headers"]
            line["response"]["headers"] = [h for h in headers if h[0].lower() != "x-requestid"]
        elif change == "tts in one frame" and line.get("opcode") == "continuation":
            line["opcode"], line["fin"] = "binary", True
    target.write_text("".join(json.dumps(line) + "\n" for line in lines))


@pytest.mark.parametrize(
    ("change", "rule"), [("final id", "RS3"), ("request id", "HS2"), ("tts in one frame", "TS2")]
)
def test_a_tampered_recording_fails_validate_naming_the_rule_and_frame(
    recorded: Recorded,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: str,
    rule: str,
) -> None:
    tampered = tmp_path / "tampered.jsonl"
    _tamper(recorded.a, tampered, change)
    assert parsers.main(["validate", "--failures-only", str(tampered)]) == 1
    status, frame, detail = table_rows(capsys.readouterr().out)[rule]
    assert status == "FAIL"
    if rule == "RS3":
        assert frame.startswith("#") and " in text " in frame  # the frame that broke it
        assert "final id '7'" in detail


# -- replay --------------------------------------------------------------------------------


def test_replay_resends_the_client_frames_exactly_and_gets_the_same_finals(
    shim: Shim, recorded: Recorded, tmp_path: Path, contract: ContractSuite
) -> None:
    again = tmp_path / "again.jsonl"
    done = tool(
        "replay", recorded.a, "--url", shim.url, "--key", recorded.key_a,
        "--as-fast-as-possible", "--record", again,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 with the same recognition" in done.stdout
    assert finals(again) == finals(recorded.a)
    sent = [
        [(f.opcode, f.fin, f.sha256) for f in read_recording(path).frames if f.direction == "out"]
        for path in (recorded.a, again)
    ]
    assert sent[0] == sent[1]  # same frames, same bytes, the same Close
    contract.recording_file(again)


# -- conformance ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conformance_run(shim: Shim, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("conformance")
    done = tool(
        "conformance", "--url", shim.url, "--key", shim.emulator.scenario(WEATHER),
        "--audio", AUDIO / "en-US_whatstheweatherlike.wav", "--as-fast-as-possible",
        "--out", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done.stdout


def test_conformance_against_the_shim_passes_every_case_and_writes_junit_and_html(
    conformance_run: tuple[Path, str], contract: ContractSuite
) -> None:
    out, stdout = conformance_run
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert suite.get("failures") == "0" and int(suite.get("tests") or 0) == len(cases) >= 15
    assert {"profile-realtime", "profile-unfinished", "bad-to", "missing-key", "text-frame",
            "no-header", "request-id"} <= set(cases)  # fmt: skip
    assert all(case.find("failure") is None for case in cases.values())
    assert "PR1  PASS" in (cases["profile-burst"].findtext("system-out") or "")
    assert "failed" in stdout and "0 failed" in stdout
    html = (out / "report.html").read_text()
    assert "profile-browser" in html and "<script" not in html
    recordings = sorted((out / "recordings").glob("*.jsonl"))
    assert len(recordings) == len(cases)
    for path in recordings:
        contract.recording_file(path)


def test_replaying_a_conformance_case_where_the_server_closed_first_ends_the_same_way(
    shim: Shim, conformance_run: tuple[Path, str], tmp_path: Path, contract: ContractSuite
) -> None:
    out, _ = conformance_run
    started = time.monotonic()
    done = tool(
        "replay", out / "recordings" / "text-frame.jsonl", "--url", shim.url, "--key", "k",
        "--record", tmp_path / "again.jsonl",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "closed 1003 by the server" in done.stdout
    assert time.monotonic() - started < 20  # no wait for results that cannot come
    again = read_recording(tmp_path / "again.jsonl")
    assert [f.opcode.name for f in again.frames if f.direction == "out"] == [
        "BINARY",
        "TEXT",
        "CLOSE",
    ]
    contract.recording_file(tmp_path / "again.jsonl")


# -- compare -------------------------------------------------------------------------------


def _compared(args: Sequence[str | Path], html: Path, *, expect: int) -> tuple[str, str]:
    done = tool("compare", *args, "--html", html)
    assert done.returncode == expect, done.stdout + done.stderr
    return done.stdout, html.read_text()


def _assert_one_word_differs(stdout: str, html: str) -> None:
    assert "recognition WER 3.2%" in stdout  # 1 word of 31
    assert "$.utterances[0].final.recognition" in stdout
    assert "<del>inspect</del>" in html and "<ins>check</ins>" in html
    assert "<del>Prüfung</del>" in html and "<ins>Kontrolle</ins>" in html
    assert '<svg id="timeline"' in html
    for external in ("<script", "<link", "<img", "<iframe", "@import", "url("):
        assert external not in html, external
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched


def test_compare_two_recordings_shows_the_word_that_differs(
    recorded: Recorded, tmp_path: Path
) -> None:
    stdout, html = _compared([recorded.a, recorded.b], tmp_path / "c.html", expect=1)
    _assert_one_word_differs(stdout, html)


def test_compare_a_recording_with_a_live_endpoint_replays_its_audio(
    shim: Shim, recorded: Recorded, tmp_path: Path, contract: ContractSuite
) -> None:
    live = tmp_path / "live"
    stdout, html = _compared(
        [recorded.a, shim.url, "--key-b", recorded.key_b, "--record-dir", live],
        tmp_path / "c.html",
        expect=1,
    )
    _assert_one_word_differs(stdout, html)
    contract.recording_file(live / "B.jsonl")
    # The same scenario live: nothing differs outside the ignored paths.
    stdout, _ = _compared(
        [recorded.a, shim.url, "--key", recorded.key_a, "--record-dir", tmp_path / "same"],
        tmp_path / "same.html",
        expect=0,
    )
    assert "no differences outside the ignored paths" in stdout
    contract.recording_file(tmp_path / "same" / "B.jsonl")


# -- the reports in a browser --------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    chromium.executable() is None,
    reason="Debian package chromium is not installed (apt-get install chromium)",
)


def _rendered(page: Path, tmp_path: Path) -> tuple[str, bytes]:
    dom = chromium.dump_dom(page, tmp_path / "profile")
    png = chromium.screenshot(page, tmp_path / "profile", tmp_path / "shot.png")
    return dom, png


def _assert_painted(png: bytes) -> None:
    assert len(png) > 20_000
    colours, not_background = chromium.colour_census(png)
    assert colours > 50 and not_background > 0.02, (colours, not_background)


@needs_chromium
def test_the_comparison_report_renders_both_sides_and_the_chart_in_chromium(
    recorded: Recorded, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    _compared([recorded.a, recorded.b], page, expect=1)
    dom, png = _rendered(page, tmp_path)
    assert "Custom Speech provides tools to" in dom
    assert "<del>inspect</del>" in dom and "<ins>check</ins>" in dom
    assert "<del>Prüfung</del>" in dom and "<ins>Kontrolle</ins>" in dom
    assert '<svg id="timeline"' in dom and dom.count('class="utt utt-a') == 3
    assert dom.count('class="utt utt-b') == 3
    _assert_painted(png)
    pixels = chromium.png_pixels(png)
    lanes = {
        (int(pixels[y, x, 0]), int(pixels[y, x, 2]))
        for y in range(300, 480, 4)
        for x in (200, 400, 700)
    }
    assert any(b > 200 and r < 120 for r, b in lanes), "no side A bar painted"  # blue
    assert any(r > 140 and b > 200 for r, b in lanes), "no side B bar painted"  # purple


@needs_chromium
def test_the_conformance_report_renders_in_chromium(
    conformance_run: tuple[Path, str], tmp_path: Path
) -> None:
    out, _ = conformance_run
    dom, png = _rendered(out / "report.html", tmp_path)
    assert "profile-realtime" in dom and "text-frame" in dom and "badge pass" in dom
    _assert_painted(png)
