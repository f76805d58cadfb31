"""Declared ignore paths for comparisons, in the JSONPath subset LocalStack snapshots use.

A path names fields that are allowed to differ between two sessions (ids, request ids,
timing jitter), so a comparison reports only real differences and the list of what was
ignored is explicit and reviewable. Supported: ``$`` root, ``.name``, ``['name']``,
``.*`` any key, ``[*]`` any index, ``[3]`` one index, ``..name`` a key at any depth. A
path also covers everything below it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_TOKEN = re.compile(
    r"\.\.(?P<descend>[^.\[\]]+)|\.(?P<key>\*|[^.\[\]]+)|\[(?P<index>\*|\d+)\]|\['(?P<quoted>[^']+)'\]"
)


class PathError(ValueError):
    """Not a path of the supported subset."""


def compile_path(path: str) -> re.Pattern[str]:
    """A regular expression matching the concrete paths at or below ``path``."""
    if not path.startswith("$"):
        raise PathError(f"{path!r}: a path starts with $")
    position, parts = 1, ["^\\$"]
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None:
            raise PathError(f"{path!r}: cannot read {path[position:]!r}")
        if match["descend"]:
            parts.append(r"(?:\.[^.\[]+|\[\d+\])*\." + re.escape(match["descend"]))
        elif match["key"] == "*":
            parts.append(r"\.[^.\[]+")
        elif match["key"] or match["quoted"]:
            parts.append(r"\." + re.escape(match["key"] or match["quoted"]))
        elif match["index"] == "*":
            parts.append(r"\[\d+\]")
        else:
            parts.append(r"\[" + match["index"] + r"\]")
        position = match.end()
    return re.compile("".join(parts) + r"(?=$|[.\[])")


class IgnoreList:
    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = list(paths)
        self._patterns = [compile_path(p) for p in self.paths]

    def ignored(self, concrete: str) -> bool:
        return any(pattern.match(concrete) for pattern in self._patterns)


def flatten(document: Any, prefix: str = "$") -> dict[str, Any]:
    """``{"$.a[0].b": value}`` for every leaf (empty objects and lists are leaves)."""
    flat: dict[str, Any] = {}
    if isinstance(document, Mapping) and document:
        for key, value in document.items():
            flat.update(flatten(value, f"{prefix}.{key}"))
    elif isinstance(document, list) and document:
        for index, value in enumerate(document):
            flat.update(flatten(value, f"{prefix}[{index}]"))
    else:
        flat[prefix] = document
    return flat
