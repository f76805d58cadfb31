"""The phrase list a client sends in ``speech.context`` (the SDKs' ``PhraseListGrammar``).

The Python SDK sends ``{"dgi": {"Groups": [{"Type": "Generic", "Items": [{"Text": ...}]}],
"bias": 1.0}}``; the JavaScript SDK the same in lower case (``groups``, ``items``, ``text``).
Bounded: at most ``MAX_PHRASES`` phrases of ``MAX_PHRASE_CHARS`` each are kept.
"""

from __future__ import annotations

from typing import Any

MAX_PHRASES = 500
MAX_PHRASE_CHARS = 200


def _get(node: Any, name: str) -> Any:
    """``node[name]`` with the key in any case, or None."""
    if not isinstance(node, dict):
        return None
    wanted = name.lower()
    return next((value for key, value in node.items() if key.lower() == wanted), None)


def phrases(context: Any) -> tuple[str, ...]:
    """The phrase list's texts, in order, without duplicates."""
    found: dict[str, None] = {}
    groups = _get(_get(context, "dgi"), "groups")
    for group in groups if isinstance(groups, list) else ():
        items = _get(group, "items")
        for item in items if isinstance(items, list) else ():
            text = _get(item, "text")
            if isinstance(text, str) and text.strip() and len(found) < MAX_PHRASES:
                found[" ".join(text.split())[:MAX_PHRASE_CHARS]] = None
    return tuple(found)
