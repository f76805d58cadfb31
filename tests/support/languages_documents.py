"""``/languages`` documents built without a server, and the contracts they must meet."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from shim.catalog import Catalog
from shim.legacy.languages import (
    LanguagesRequest,
    build_languages_document,
    parse_languages_request,
)
from tests.support.paths import ROOT

CONTRACTS = ROOT / "contracts"


def validator(scope: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((CONTRACTS / f"languages-{scope}.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def request(
    scope: str | None = None, accept_language: str | None = None, **extra: str
) -> LanguagesRequest:
    query = [("api-version", "1.0")]
    if scope is not None:
        query.append(("scope", scope))
    query += list(extra.items())
    return parse_languages_request(query, accept_language)


def document(
    catalog: Catalog, scope: str, current: bool = False, accept_language: str | None = None
) -> dict[str, Any]:
    return build_languages_document(catalog, request(scope, accept_language), current)
