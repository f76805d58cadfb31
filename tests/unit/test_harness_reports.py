"""Conformance reports: JUnit XML for CI, the terminal summary and the offline HTML page."""

from __future__ import annotations

import fnmatch
import io
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from shim.harness.checks.conformance import CASE_NAMES, CaseResult, select
from shim.harness.checks.rule_base import Finding, RuleResult
from shim.harness.reports.conformance_report import html_report, terminal_summary
from shim.harness.reports.junit import junit_xml
from tests.support.paths import ROOT

pytestmark = pytest.mark.unit


def _results(tmp_path: Path) -> list[CaseResult]:
    broken = RuleResult("TS1", "one TTS per final", "MUST", [Finding(None, "final 1 got no TTS")])
    fine = RuleResult("HS2", "X-RequestId", "MUST")
    shaky = RuleResult("ER4", "close reasons", "SHOULD", [Finding(None, "leaky <reason>")])
    return [
        CaseResult("profile-burst", "profiles", "burst", "pass", [fine, shaky], 1.5),
        CaseResult("bad-to", "errors", "to=qq", "fail", [broken, fine], 0.1, tmp_path / "r.jsonl"),
        CaseResult("no-header", "errors", "PCM", "skip", note="known divergence (--skip)"),
    ]


def test_junit_has_a_testcase_per_case_with_failures_and_skips(tmp_path: Path) -> None:
    root = junit_xml(_results(tmp_path), suite="legacy-conformance", endpoint="ws://x/").getroot()
    suite = root.find("testsuite")
    assert suite is not None and root.get("tests") == "3"
    assert (suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("1", "1", "0")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["bad-to"].get("classname") == "conformance.errors"
    failure = cases["bad-to"].find("failure")
    assert failure is not None and failure.get("type") == "TS1"
    assert "final 1 got no TTS" in (failure.get("message") or "")
    assert cases["no-header"].find("skipped") is not None
    assert cases["profile-burst"].find("failure") is None  # a SHOULD warning is no failure
    ET.fromstring(ET.tostring(root))  # well-formed


def test_terminal_and_html_reports_escape_and_show_every_status(tmp_path: Path) -> None:
    out = io.StringIO()
    terminal_summary(Console(file=out, width=160), _results(tmp_path), "ws://x/")
    text = out.getvalue()
    assert "SKIP" in text and "FAIL" in text and "1 cases passed, 1 failed, 1 skipped" in text
    html = html_report(_results(tmp_path), "ws://x/", tmp_path)
    assert "leaky &lt;reason&gt;" in html and "<reason>" not in html
    assert "href='r.jsonl'" in html and "<script" not in html


def test_every_report_template_ships_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["shim.harness.reports"]
    package = ROOT / "shim" / "harness" / "reports"
    templates = sorted((package / "templates").iterdir())
    assert templates, "no templates found"
    for template in templates:
        relative = template.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


def test_cases_are_selected_by_name_or_prefix() -> None:
    assert [c.name for c in select(["bad-"])] == [n for n in CASE_NAMES if n.startswith("bad-")]
    assert len(select([])) == len(CASE_NAMES) >= 17
    with pytest.raises(ValueError, match="unknown case"):
        select(["nope"])
