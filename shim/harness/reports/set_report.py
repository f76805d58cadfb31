"""The report over a set of compared sessions (``replay-set``, the server's shadow view):
one self-contained HTML page, a JSON document, and JUnit XML with a test case per session."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shim.harness.compare.sets import SessionSummary, SetSummary, Thresholds
from shim.harness.reports.htmlpage import render
from shim.harness.reports.junit_suite import suite_elements


def _percent(value: float) -> str:
    return f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:+.0f}"


def describe_thresholds(thresholds: Thresholds | None) -> str:
    if thresholds is None:
        return ""
    parts = []
    if thresholds.max_wer is not None:
        parts.append(f"recognition WER ≤ {thresholds.max_wer:.1%}")
    if thresholds.max_translation_wer is not None:
        parts.append(f"translation WER ≤ {thresholds.max_translation_wer:.1%}")
    if thresholds.max_missing is not None:
        parts.append(f"missing finals ≤ {thresholds.max_missing}")
    if thresholds.max_extra is not None:
        parts.append(f"extra finals ≤ {thresholds.max_extra}")
    if thresholds.max_latency is not None:
        parts.append(f"latency difference ≤ {thresholds.max_latency * 1000:.0f} ms")
    if thresholds.same_close:
        parts.append("same close codes")
    return ", ".join(parts)


@dataclass(frozen=True)
class _Row:
    s: SessionSummary
    wer: str
    latency: str
    close: str
    link: str | None


def html_report(
    summary: SetSummary, link: Callable[[SessionSummary], str | None] | None = None
) -> str:
    """``link(session)``: where that session's own comparison page is, if anywhere."""
    s = summary
    cards = [
        (str(len(s.sessions)), "sessions"),
        (f"{s.finals_a} / {s.finals_b}", "finals A / B"),
        (f"{s.missing} / {s.extra}", "missing / extra on B"),
        (_percent(s.recognition_wer), "recognition WER (B vs A)"),
        (_percent(s.translation_wer), "translation WER (B vs A)"),
        (_ms(s.latency_difference), "Δ latency ms (median, B − A)"),
        (str(s.close_changes), "close codes changed"),
    ]
    rows = [
        _Row(
            session,
            f"{_percent(session.recognition_wer)} / {_percent(session.translation_wer)}",
            _ms(session.latency_difference),
            " / ".join(str(code) for code in session.close_codes),
            link(session) if link else None,
        )
        for session in s.sessions
    ]
    disagreements = [(x.name, d) for x in s.sessions for d in x.disagreements]
    return render(
        "set.html",
        s=s,
        cards=cards,
        rows=rows,
        disagreements=disagreements,
        thresholds=describe_thresholds(s.thresholds),
    )


def session_json(session: SessionSummary) -> dict[str, Any]:
    close_a, close_b = session.close_codes
    return {
        "name": session.name,
        "passed": session.passed,
        "problem": session.problem,
        "note": session.note or None,
        "finals": {"a": session.finals_a, "b": session.finals_b},
        "missing": session.missing,
        "extra": session.extra,
        "wer": {"recognition": session.recognition_wer, "translation": session.translation_wer},
        "latency_difference_s": session.latency_difference,
        "close": {"a": close_a, "b": close_b},
        "differences": session.differences,
        "breaches": list(session.breaches),
        "disagreements": [d.__dict__ for d in session.disagreements],
    }


def json_report(summary: SetSummary) -> dict[str, Any]:
    s = summary
    return {
        "title": s.title,
        "a": s.a_label,
        "b": s.b_label,
        "passed": s.passed,
        "thresholds": describe_thresholds(s.thresholds) or None,
        "total": {
            "sessions": len(s.sessions),
            "failed": s.failed,
            "finals": {"a": s.finals_a, "b": s.finals_b},
            "missing": s.missing,
            "extra": s.extra,
            "wer": {"recognition": s.recognition_wer, "translation": s.translation_wer},
            "latency_difference_s": s.latency_difference,
            "close_changes": s.close_changes,
            "disagreements": s.disagreements,
            "differences": s.differences,
        },
        "sessions": [session_json(session) for session in s.sessions],
    }


def junit_xml(summary: SetSummary, suite: str) -> ET.ElementTree:
    """One ``testcase`` per session (classname ``<suite>``), a ``failure`` per broken one."""
    root, element = suite_elements(suite, tests=len(summary.sessions), failures=summary.failed)
    for session in summary.sessions:
        case = ET.SubElement(element, "testcase", classname=suite, name=session.name)
        if session.breaches:
            failure = ET.SubElement(case, "failure", message=session.breaches[0], type="threshold")
            failure.text = "\n".join(session.breaches)
        output = ET.SubElement(case, "system-out")
        output.text = json.dumps(session_json(session), ensure_ascii=False, indent=1)
    ET.indent(root)
    return ET.ElementTree(root)


def write_reports(
    summary: SetSummary,
    *,
    html: Path | None = None,
    json_path: Path | None = None,
    junit: Path | None = None,
    suite: str = "replay-set",
) -> None:
    for path in (html, json_path, junit):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    if html is not None:
        html.write_text(html_report(summary), encoding="utf-8")
    if json_path is not None:
        document = json.dumps(json_report(summary), ensure_ascii=False, indent=1)
        json_path.write_text(document + "\n", encoding="utf-8")
    if junit is not None:
        junit_xml(summary, suite).write(junit, encoding="utf-8", xml_declaration=True)
