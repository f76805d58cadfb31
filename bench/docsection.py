"""One section of ``docs/performance.md``, rewritten by a benchmark.

A section runs from its ``## `` heading to the next one. Rewriting it keeps the rest of the
file and the section's hand-written ``### Notes`` subsection (the benchmark's text never has
one of its own); a missing section is appended.
"""

from __future__ import annotations

from pathlib import Path

NOTES = "### Notes"


def replace_section(path: Path, heading: str, text: str) -> None:
    """Put ``text`` (which starts with ``heading``) in place of that section of ``path``."""
    old = path.read_text() if path.exists() else "# Performance\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        body = old.rstrip("\n") + "\n\n" + text
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        text = _keep_notes("".join(lines[start:end]), text)
        after = "".join(lines[end:])
        body = "".join(lines[:start]) + text + ("\n" + after if after else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body.rstrip("\n") + "\n")


def _keep_notes(old_section: str, new_section: str) -> str:
    at = old_section.find(f"\n{NOTES}\n")
    if at < 0 or f"\n{NOTES}\n" in new_section:
        return new_section
    return new_section.rstrip("\n") + "\n" + old_section[at:].rstrip("\n") + "\n"
