"""contracts/: the AsyncAPI document is valid YAML of the AsyncAPI 3.0 shape, every
``$ref`` in it resolves, every schema it points to is a valid draft 2020-12 schema, and
every example (in the document and in the schema files) validates against its schema."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shim.harness.checks import schemas

pytestmark = pytest.mark.unit

CONTRACTS = schemas.CONTRACTS_DIR
ASYNCAPI = CONTRACTS / "asyncapi.yaml"

_REF = {"type": "object", "required": ["$ref"], "properties": {"$ref": {"type": "string"}}}
_SCHEMA_OR_REF = {"type": "object"}
# The parts of the AsyncAPI 3.0.0 document structure this document uses (spec §3: AsyncAPI,
# Info, Server, Channel, Operation, Message, Multi Format Schema objects; WebSockets channel
# binding 0.1.0), strict where a typo would go unnoticed.
ASYNCAPI_SUBSET: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["asyncapi", "info", "channels", "operations"],
    "patternProperties": {"^x-": {}},
    "additionalProperties": False,
    "properties": {
        "asyncapi": {"const": "3.0.0"},
        "id": {"type": "string", "format": "uri"},
        "defaultContentType": {"type": "string"},
        "info": {
            "type": "object",
            "required": ["title", "version"],
            "properties": {
                "title": {"type": "string"},
                "version": {"type": "string"},
                "description": {"type": "string"},
                "license": {"type": "object", "required": ["name"]},
                "tags": {"type": "array"},
            },
            "additionalProperties": False,
        },
        "servers": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["host", "protocol"],
                "properties": {
                    "host": {"type": "string", "not": {"pattern": "://"}},
                    "protocol": {"enum": ["ws", "wss"]},
                    "description": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
        "channels": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["address", "messages"],
                "patternProperties": {"^x-": {}},
                "additionalProperties": False,
                "properties": {
                    "address": {"type": "string", "pattern": "^/"},
                    "title": {"type": "string"},
                    "summary": {"type": "string"},
                    "description": {"type": "string"},
                    "servers": {"type": "array", "items": _REF},
                    "messages": {"type": "object", "additionalProperties": _REF},
                    "bindings": {
                        "type": "object",
                        "properties": {
                            "ws": {
                                "type": "object",
                                "properties": {
                                    "method": {"enum": ["GET", "POST"]},
                                    "query": _SCHEMA_OR_REF,
                                    "headers": _SCHEMA_OR_REF,
                                    "bindingVersion": {"const": "0.1.0"},
                                },
                                "additionalProperties": False,
                            }
                        },
                    },
                },
            },
        },
        "operations": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["action", "channel"],
                "additionalProperties": False,
                "properties": {
                    "action": {"enum": ["send", "receive"]},
                    "channel": _REF,
                    "title": {"type": "string"},
                    "summary": {"type": "string"},
                    "messages": {"type": "array", "items": _REF, "minItems": 1},
                },
            },
        },
        "components": {
            "type": "object",
            "properties": {
                "schemas": {"type": "object"},
                "messages": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["name", "payload"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string"},
                            "title": {"type": "string"},
                            "summary": {"type": "string"},
                            "description": {"type": "string"},
                            "contentType": {"type": "string"},
                            "payload": {"type": "object"},
                            "examples": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "anyOf": [{"required": ["payload"]}, {"required": ["headers"]}],
                                    "properties": {"name": {"type": "string"}, "payload": {}},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield where, node["$ref"]
        for key, value in node.items():
            yield from _refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _refs(value, f"{where}/{index}")


def _pointer(root: Any, pointer: str) -> Any:
    node = root
    for part in filter(None, pointer.lstrip("/").split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _resolve(document: dict[str, Any], ref: str) -> Any:
    """A ``#/…`` ref inside the document or ``file.json#/…`` next to it."""
    target, _, pointer = ref.partition("#")
    if not target:
        return _pointer(document, pointer)
    path = (ASYNCAPI.parent / target).resolve()
    assert path.parent == CONTRACTS.resolve() and path.is_file(), ref
    return _pointer(json.loads(path.read_text(encoding="utf-8")), pointer)


def _payload_validator(document: dict[str, Any], payload: dict[str, Any]) -> jsonschema.Validator:
    """A validator for a message payload: a Multi Format Schema Object or an inline schema,
    with references to files resolved through the contracts registry."""
    schema = payload["schema"] if "schemaFormat" in payload else payload

    def absolute(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                ref = node["$ref"]
                if ref.startswith("#/"):
                    return absolute(_resolve(document, ref))
                target, _, pointer = ref.partition("#")
                uri = (ASYNCAPI.parent / target).resolve().as_uri()
                return {"$ref": f"{uri}#{pointer}" if pointer else uri}
            return {key: absolute(value) for key, value in node.items()}
        if isinstance(node, list):
            return [absolute(item) for item in node]
        return node

    return jsonschema.Draft202012Validator(absolute(schema), registry=schemas.registry())


def test_the_document_is_asyncapi_3_yaml_of_the_expected_shape(document: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(ASYNCAPI_SUBSET).validate(document)
    channel = document["channels"]["speechTranslate"]
    assert channel["address"] == "/speech/translate"
    query = _resolve(document, channel["bindings"]["ws"]["query"]["$ref"])
    assert query["type"] == "object" and set(query["required"]) == {"api-version", "from", "to"}
    assert {"features", "voice", "format", "subscription-key", "access_token"} <= set(
        query["properties"]
    )
    headers = _resolve(document, channel["bindings"]["ws"]["headers"]["$ref"])
    assert {"Ocp-Apim-Subscription-Key", "Authorization"} <= set(headers["properties"])
    assert set(channel["x-close-codes"]) == {"1000", "1001", "1003", "1011"}
    assert {op["action"] for op in document["operations"].values()} == {"send", "receive"}


def test_every_ref_resolves_and_operations_use_their_channels_messages(
    document: dict[str, Any],
) -> None:
    refs = list(_refs(document))
    assert len(refs) > 20
    for where, ref in refs:
        assert _resolve(document, ref) is not None, (where, ref)
    for name, operation in document["operations"].items():
        channel_ref = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), (name, message)


def test_every_referenced_file_is_a_valid_2020_12_schema(document: dict[str, Any]) -> None:
    files = {ref.partition("#")[0] for _, ref in _refs(document) if not ref.startswith("#")}
    assert {"./legacy-result.schema.json", "./handshake-error.schema.json",
            "./token-response.schema.json", "./token-claims.schema.json"} <= files  # fmt: skip
    for name in files:
        contract = json.loads((ASYNCAPI.parent / name).read_text(encoding="utf-8"))
        assert contract["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(contract)


def test_every_message_example_validates_against_its_payload_schema(
    document: dict[str, Any],
) -> None:
    checked = 0
    for name, message in document["components"]["messages"].items():
        validator = _payload_validator(document, message["payload"])
        for example in message.get("examples", []):
            validator.validate(example["payload"])
            checked += 1
        if message["payload"].get("schemaFormat"):
            assert message["payload"]["schemaFormat"] == "application/schema+json;version=2020-12"
            assert message.get("examples"), f"{name}: a result message without an example"
    assert checked >= 5


def test_a_broken_example_would_be_caught(document: dict[str, Any]) -> None:
    message = copy.deepcopy(document["components"]["messages"]["finalResultWithTiming"])
    validator = _payload_validator(document, message["payload"])
    example = message["examples"][0]["payload"]
    for broken in ({**example, "id": "23.1"}, {**example, "audioTimeSize": 1}, {**example, "x": 1}):
        assert not validator.is_valid(broken), broken
    partial = _payload_validator(
        document, document["components"]["messages"]["partialResult"]["payload"]
    )
    assert not partial.is_valid({**example, "type": "partial"})  # timing fields: the other message


def test_schema_examples_in_the_document_and_the_handshake_errors_validate(
    document: dict[str, Any],
) -> None:
    for name in ("handshakeQuery", "handshakeHeaders"):
        schema = document["components"]["schemas"][name]
        validator = jsonschema.Draft202012Validator(schema)
        assert schema["examples"]
        for example in schema["examples"]:
            validator.validate(example)
    query = jsonschema.Draft202012Validator(document["components"]["schemas"]["handshakeQuery"])
    good = document["components"]["schemas"]["handshakeQuery"]["examples"][0]
    assert not query.is_valid({**good, "format": "audio/ogg"})
    assert not query.is_valid({**good, "X-CorrelationId": "not valid!"})
    for status, error in document["channels"]["speechTranslate"]["x-handshake-errors"].items():
        assert schemas.problems(schemas.HANDSHAKE_ERROR, error["example"]) == [], status
        assert error["example"]["error"]["code"] // 1000 == int(status)


@pytest.mark.parametrize("path", sorted(CONTRACTS.glob("*.schema.json")), ids=lambda p: p.name)
def test_each_contract_is_valid_and_its_own_examples_pass(path: Path) -> None:
    contract = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(contract)
    for example in contract.get("examples", []):
        assert schemas.problems(path.name, example) == [], example


def test_the_token_response_is_a_jwt_string() -> None:
    import jwt

    token = jwt.encode({"scope": "x"}, "a-secret-of-at-least-thirty-two-bytes", algorithm="HS256")
    assert schemas.problems("token-response.schema.json", token) == []
    assert schemas.problems("token-response.schema.json", {"access_token": token})
    assert schemas.problems("token-response.schema.json", "not a token")
