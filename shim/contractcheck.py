"""Files operators and tests write, checked against the bundled contracts
(``contracts/*.schema.json``): one line that says where a document is wrong and what is
wanted. Used by the scenario files of the local Speech service and the pool file of
``serve --backends``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema


@cache
def _validator(contract: str) -> jsonschema.protocols.Validator:
    schema = json.loads(
        resources.files("shim").joinpath(f"contracts/{contract}").read_text("utf-8")
    )
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def contract_problem(
    document: Any, contract: str, friendly: Mapping[str, str] | None = None
) -> str | None:
    """None when ``document`` follows ``contracts/<contract>``; else ``"<where>: <what>"``, where
    is a JSON path (or ``(top level)``). Combinator failures (``oneOf``, ``anyOf``) print the
    whole instance, so ``friendly`` may say what is wanted instead, by keyword."""
    error = jsonschema.exceptions.best_match(_validator(contract).iter_errors(document))
    if error is None:
        return None
    where = error.json_path if error.json_path != "$" else "(top level)"
    message = (friendly or {}).get(str(error.validator), error.message)
    message = message if len(message) < 200 else message[:197] + "..."
    return f"{where}: {message}"
