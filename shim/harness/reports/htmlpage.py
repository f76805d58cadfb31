"""Every HTML report is a Jinja2 template under ``templates/``, rendered with autoescaping.

Reports are attached to CI runs and mailed around, so each is one self-contained file:
CSS inline (``base.html``), charts as inline SVG, no script, font or image, and a Content
Security Policy that forbids loading any, so a report that would need the network shows
the gap instead of fetching. Recognised text, close reasons and URLs come from the server
under test, so every value is escaped unless a caller marks it safe with :class:`Markup`
(word diffs built from escaped words).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

__all__ = ["CSP", "Markup", "render"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("shim.harness.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """A complete HTML document from ``templates/<template>``."""
    return _environment().get_template(template).render(csp=CSP, **context)
