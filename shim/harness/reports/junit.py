"""JUnit XML for a conformance run, the format CI systems show as test results."""

from __future__ import annotations

import datetime
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from shim.harness.checks.conformance import CaseResult
from shim.harness.reports.junit_suite import suite_elements


def _failure_text(result: CaseResult) -> str:
    lines = []
    for check in result.failures:
        for finding in check.findings:
            lines.append(f"{check.rule} {check.title}: {finding.where()}: {finding.detail}")
    return "\n".join(lines)


def _checks_text(result: CaseResult) -> str:
    lines = [f"{c.rule:<4} {c.status.upper():<5} {c.title}" for c in result.checks]
    if result.recording is not None:
        lines.append(f"recording: {result.recording}")
    return "\n".join(lines)


def junit_xml(results: Sequence[CaseResult], *, suite: str, endpoint: str) -> ET.ElementTree:
    """One ``testsuite``; a ``testcase`` per case with classname ``conformance.<group>``;
    ``failure`` lists every broken rule (type = the first rule id); ``skipped`` for --skip.
    ``endpoint`` must already be redacted."""
    root, suite_element = suite_elements(
        suite,
        tests=len(results),
        failures=sum(1 for r in results if r.status == "fail"),
        skipped=sum(1 for r in results if r.status == "skip"),
        seconds=sum(r.duration for r in results),
        timestamp=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        hostname=socket.gethostname(),
    )
    properties = ET.SubElement(suite_element, "properties")
    ET.SubElement(properties, "property", name="endpoint", value=endpoint)
    for result in results:
        case = ET.SubElement(
            suite_element,
            "testcase",
            classname=f"conformance.{result.group}",
            name=result.name,
            time=f"{result.duration:.3f}",
        )
        if result.status == "skip":
            ET.SubElement(case, "skipped", message=result.note or "skipped")
        elif result.status == "fail":
            failure = ET.SubElement(
                case, "failure", message=result.summary(), type=result.failures[0].rule
            )
            failure.text = _failure_text(result)
        output = ET.SubElement(case, "system-out")
        output.text = f"{result.description}\n{_checks_text(result)}"
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(results: Sequence[CaseResult], path: Path, *, suite: str, endpoint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    junit_xml(results, suite=suite, endpoint=endpoint).write(
        path, encoding="utf-8", xml_declaration=True
    )
