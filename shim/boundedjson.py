"""JSON from untrusted peers, with a bound on nesting.

``json.loads`` raises ``RecursionError`` (not ``ValueError``) on deeply nested input such as
``"[" * 5000``, and code that walks a parsed document (jsonschema, our own readers) can
recurse as deep again. So nesting is measured first, in one linear pass that skips string
contents, and anything deeper than :data:`MAX_DEPTH` is refused with the same ``ValueError``
as any other invalid JSON. No JSON this project reads (USP bodies, scenarios, faults) comes
near that depth.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64

_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class TooDeep(ValueError):
    """JSON nested deeper than allowed."""


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (strings skipped)."""
    depth = deepest = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def loads(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, but raises only ``ValueError`` (incl. :class:`TooDeep`) on bad input."""
    if nesting_depth(text) > max_depth:
        raise TooDeep(f"nested deeper than {max_depth} levels")
    return json.loads(text)
