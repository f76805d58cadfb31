"""The pool file of ``serve --backends FILE``: Speech resources, their quotas, named pools.

YAML (JSON is YAML too), validated against ``contracts/backends.schema.json`` and then for
what a schema cannot say (unique names, pools naming resources that exist, key variables
that are set). Every error is one line naming the file and the field. Keys are never in the
file: an entry names the environment variable that holds its key (``key_env``), read once
here; the value is kept out of every ``repr``.

The single-backend flags (``--speech-key``/``--speech-region``, ``--speech-host``,
``--speech-endpoint``, or none: the embedded local Speech service) are a pool of one
resource without a session limit (:func:`single_resource`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shim.contractcheck import contract_problem
from shim.pool.core import Backoff

MAX_FILE_BYTES = 1 << 20  # a pool of 256 resources is a few kB
DEFAULT_POOL = "default"
LOCAL_KEY = "local"  # the key sent to a host or endpoint that names no key_env


class PoolFileError(ValueError):
    """A pool file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class ResourceSpec:
    """One Speech resource: where the SDK connects, with which key, and how much of it."""

    name: str
    max_sessions: int | None  # None: no limit of our own (a pool of one from the flags)
    region: str | None = None
    host: str | None = None
    endpoint: str | None = None
    key: str = field(default=LOCAL_KEY, repr=False)
    key_env: str | None = None
    weight: float = 1.0
    priority: int = 1  # 1 first; higher numbers only when every better one is full or failing
    embedded: bool = False  # the embedded local Speech service: its host is known at start

    @property
    def kind(self) -> str:
        if self.embedded:
            return "embedded"
        return "endpoint" if self.endpoint else "host" if self.host else "azure"


@dataclass(frozen=True)
class PoolFile:
    """The resources in the file's order, and named pools of them."""

    resources: tuple[ResourceSpec, ...]
    pools: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = "<flags>"
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        names = [r.name for r in self.resources]
        if not names or len(set(names)) != len(names):
            raise ValueError("resources must be named uniquely")

    def resource(self, name: str) -> ResourceSpec:
        return next(r for r in self.resources if r.name == name)

    def names(self) -> frozenset[str]:
        """Everything a client key may name: the pools, and each resource (a pool of one)."""
        return frozenset(self.pools) | {r.name for r in self.resources}

    def members(self, pool: str | None) -> tuple[str, ...]:
        """The resources of ``pool`` in the file's order; None: the default pool (the one
        named ``default``, else every resource). Raises KeyError for an unknown name."""
        if pool is None:
            pool = DEFAULT_POOL if DEFAULT_POOL in self.pools else None
            if pool is None:
                return tuple(r.name for r in self.resources)
        if pool in self.pools:
            return self.pools[pool]
        if any(r.name == pool for r in self.resources):
            return (pool,)
        raise KeyError(pool)

    def secrets(self) -> list[str]:
        return [r.key for r in self.resources if r.key != LOCAL_KEY]


def single_resource(
    *,
    key: str | None,
    region: str | None,
    host: str | None,
    endpoint: str | None,
) -> PoolFile:
    """The single-backend flags as a pool of one, named after its kind (or its region)."""
    if endpoint:
        spec = ResourceSpec("endpoint", None, endpoint=endpoint, key=key or LOCAL_KEY)
    elif host:
        spec = ResourceSpec("host", None, host=host, key=key or LOCAL_KEY)
    elif key:
        spec = ResourceSpec(region or "azure", None, region=region, key=key)
    else:
        spec = ResourceSpec("embedded", None, embedded=True)
    return PoolFile((spec,))


# Combinator failures print the whole instance; say what is wanted instead.
_FRIENDLY = {
    "oneOf": "a resource needs exactly one of: region (with key_env), host or endpoint",
}


def pool_from_document(document: Any, source: str, environ: Mapping[str, str]) -> PoolFile:
    """A parsed pool file, checked; ``environ`` holds the keys its entries name."""
    problem = contract_problem(document, "backends.schema.json", _FRIENDLY)
    if problem is not None:
        raise PoolFileError(f"{source}: {problem}")
    specs = []
    seen: set[str] = set()
    for index, entry in enumerate(document["backends"]):
        where = f"{source}: $.backends[{index}]"
        name = entry["name"]
        if name in seen:
            raise PoolFileError(f"{where}.name: {name!r} is used by another resource")
        seen.add(name)
        key = LOCAL_KEY
        key_env = entry.get("key_env")
        if key_env is not None:
            key = environ.get(key_env, "").strip()
            if not key:
                raise PoolFileError(
                    f"{where}.key_env: the environment variable {key_env} (the key of"
                    f" {name!r}) is not set"
                )
        specs.append(
            ResourceSpec(
                name,
                entry["max_sessions"],
                region=entry.get("region"),
                host=entry.get("host"),
                endpoint=entry.get("endpoint"),
                key=key,
                key_env=key_env,
                weight=float(entry.get("weight", 1)),
                priority=entry.get("priority", 1),
            )
        )
    pools: dict[str, tuple[str, ...]] = {}
    for pool, members in document.get("pools", {}).items():
        where = f"{source}: $.pools.{pool}"
        if pool in seen:
            raise PoolFileError(f"{where}: a resource has this name too; name the pool apart")
        unknown = [m for m in members if m not in seen]
        if unknown:
            raise PoolFileError(f"{where}: no resource named {unknown[0]!r} in $.backends")
        pools[pool] = tuple(members)
    cooldown = document.get("cooldown", {})
    first = float(cooldown.get("first_seconds", Backoff.first))
    backoff = Backoff(first, longest=float(cooldown.get("longest_seconds", max(first, 30.0))))
    if backoff.longest < backoff.first:
        raise PoolFileError(f"{source}: $.cooldown: longest_seconds is less than first_seconds")
    return PoolFile(tuple(specs), pools, source, backoff)


def load_pool_file(path: Path, environ: Mapping[str, str]) -> PoolFile:
    """Read, parse and check ``path``. Raises :class:`PoolFileError`."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PoolFileError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise PoolFileError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        document = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PoolFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise PoolFileError(f"{path}: not valid YAML{at}: {problem}") from None
    return pool_from_document(document, str(path), environ)
