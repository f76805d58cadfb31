"""The JUnit XML frame every harness report shares: ``testsuites`` around one ``testsuite``,
both carrying the same counts (CI systems read either)."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def suite_elements(
    name: str,
    *,
    tests: int,
    failures: int,
    skipped: int = 0,
    seconds: float | None = None,
    **suite_only: str,
) -> tuple[ET.Element, ET.Element]:
    """The root and its one suite; ``suite_only`` attributes (timestamp, hostname) go on the
    suite alone. Add ``testcase`` elements to the suite, then ``ET.indent`` the root."""
    counts = {
        "name": name,
        "tests": str(tests),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
    }
    if seconds is not None:
        counts["time"] = f"{seconds:.3f}"
    root = ET.Element("testsuites", counts)
    return root, ET.SubElement(root, "testsuite", {**counts, **suite_only})
