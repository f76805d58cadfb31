"""The contracts/ JSON Schemas, loaded once, with references between them resolvable.

Every reader of the wire (``validate``, ``conformance``, the test fixture) checks messages
against the same files the AsyncAPI document points to, so the documents and the checks
cannot drift apart. Schemas are found by file name; ``$ref``s to another file's ``$id`` or
file name resolve through one :class:`referencing.Registry`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"

RESULT = "legacy-result.schema.json"
HANDSHAKE_ERROR = "handshake-error.schema.json"
RECORDING = "session-recording.schema.json"
TOKEN_CLAIMS = "token-claims.schema.json"


@functools.cache
def registry() -> Registry[Any]:
    """Every contract, under its ``$id``, its file name and its ``file:`` URI."""
    resources: list[tuple[str, Resource[Any]]] = []
    for path in sorted(CONTRACTS_DIR.glob("*.schema.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        resources.append((path.name, resource))
        resources.append((path.resolve().as_uri(), resource))
        if isinstance(document.get("$id"), str):
            resources.append((document["$id"], resource))
    return Registry().with_resources(resources)


@functools.cache
def schema(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((CONTRACTS_DIR / name).read_text(encoding="utf-8"))
    return document


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    document = schema(name)
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document, registry=registry())


def problems(name: str, instance: Any) -> list[str]:
    """Why ``instance`` breaks the contract ``name`` (empty if it conforms), one line each."""
    found = []
    for error in validator(name).iter_errors(instance):
        best = jsonschema.exceptions.best_match([error])
        where = "/".join(str(part) for part in best.absolute_path) or "(document)"
        found.append(f"{where}: {best.message}")
    return found
