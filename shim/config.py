"""Every setting of ``serve`` in one typed object: flags, then environment, then defaults."""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from shim.legacy.vocabulary import Limits
from shim.pool.file import PoolFile, PoolFileError, load_pool_file, single_resource

N = TypeVar("N")

# (flag attribute, environment variable) pairs; a flag given on the command line wins.
ENVIRONMENT = {
    "host": "SHIM_HOST",
    "port": "SHIM_PORT",
    "speech_key": "SPEECH_KEY",
    "speech_region": "SPEECH_REGION",
    "speech_host": "SPEECH_HOST",
    "speech_endpoint": "SPEECH_ENDPOINT",
    "backends": "SHIM_BACKENDS",
    "scenario": "SHIM_SCENARIO",
    "engine": "SHIM_ENGINE",
    "auth": "SHIM_AUTH",
    "client_keys": "SHIM_CLIENT_KEYS_FILE",
    "token_secret": "SHIM_TOKEN_SECRET",
    "max_sessions_per_key": "SHIM_MAX_SESSIONS_PER_KEY",
    "idle_timeout": "SHIM_IDLE_TIMEOUT",
    "silence_timeout": "SHIM_SILENCE_TIMEOUT",
    "flush_timeout": "SHIM_FLUSH_TIMEOUT",
    "backend_timeout": "SHIM_BACKEND_TIMEOUT",
    "liveness_timeout": "SHIM_LIVENESS_TIMEOUT",
    "header_timeout": "SHIM_HEADER_TIMEOUT",
    "max_connections": "SHIM_MAX_CONNECTIONS",
    "backlog": "SHIM_BACKLOG",
    "workers": "SHIM_WORKERS",
    "drain_timeout": "SHIM_DRAIN_TIMEOUT",
    "max_session_minutes": "SHIM_MAX_SESSION_MINUTES",
    "tls_cert": "SHIM_TLS_CERT",
    "tls_key": "SHIM_TLS_KEY",
    "languages": "SHIM_LANGUAGES",
    "languages_from": "SHIM_LANGUAGES_FROM",
    "record_backend": "SHIM_RECORD_BACKEND",
    "sdk_events": "SHIM_SDK_EVENTS",
    "capture_dir": "SHIM_CAPTURE_DIR",
    "capture_rate": "SHIM_CAPTURE_RATE",
    "capture_max_bytes": "SHIM_CAPTURE_MAX_BYTES",
    "capture_retention_hours": "SHIM_CAPTURE_RETENTION_HOURS",
    "shadow_backend": "SHIM_SHADOW_BACKEND",
    "shadow_rate": "SHIM_SHADOW_RATE",
    "shadow_key": "SHIM_SHADOW_KEY",
}


ENGINES = ("auto", "local", "scripted")


class ConfigError(ValueError):
    """A setting that cannot work; the message says which and why."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 5000
    speech_key: str | None = None
    speech_region: str | None = None
    speech_host: str | None = None
    speech_endpoint: str | None = None
    backends_file: Path | None = None  # --backends: the pool file
    backends: PoolFile | None = None  # ... as loaded (its keys read from the environment)
    scenario: Path | None = None
    engine: str = "auto"  # embedded backend: the local engines when installed
    auth: str | None = None  # None: open, if that is allowed (see validate)
    client_keys_file: Path | None = None
    client_keys_env: str | None = None  # SHIM_CLIENT_KEYS: the keys themselves
    token_secret: str | None = None
    max_sessions_per_key: int | None = None
    # Session limits: their defaults are the session core's (one place).
    idle_timeout: float = Limits.idle_timeout
    silence_timeout: float = Limits.silence_timeout
    flush_timeout: float = Limits.flush_timeout
    backend_timeout: float = Limits.backend_timeout
    liveness_timeout: float = Limits.liveness_timeout
    drain_timeout: float = 30.0
    max_session_minutes: float = Limits.max_session / 60
    header_timeout: float = 10.0
    max_connections: int | None = None  # None: from the open-files limit (see edge.py)
    backlog: int | None = None  # None: the kernel's somaxconn (shim/serving.py)
    workers: int = 1  # processes accepting on the port (server/workers.py)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    languages: str = "legacy"  # or "current": what /languages serves by default
    languages_from: str = "engine"  # embedded backend: what its engines serve, or "catalog"
    sdk_properties: dict[str, str] = field(default_factory=dict)
    record_backend: Path | None = None  # write each session as a local-service scenario
    sdk_events: str = "auto"  # how SDK events are read: auto, fast, fast-unverified, public
    # Real traffic (docs/migration-guide.md): captures, and shadow sessions on a 2nd backend.
    capture_dir: Path | None = None
    capture_rate: float = 0.1
    capture_max_bytes: int = 1 << 30
    capture_retention_hours: float = 72.0
    shadow_backend: str | None = None  # ws(s)://host:port, an endpoint URL, or a resource
    shadow_rate: float = 1.0
    shadow_key: str | None = None

    @property
    def backend_kind(self) -> str:
        if self.backends_file:
            return "pool"
        if self.speech_endpoint:
            return "endpoint"
        if self.speech_host:
            return "host"
        if self.speech_key:
            return "azure"
        return "embedded"

    def pool(self) -> PoolFile:
        """The Speech resources sessions run on: the pool file, or the flags' pool of one."""
        if self.backends is not None:
            return self.backends
        return single_resource(
            key=self.speech_key,
            region=self.speech_region,
            host=self.speech_host,
            endpoint=self.speech_endpoint,
        )

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def auth_mode(self) -> str:
        return self.auth or "open"

    def secrets(self) -> list[str]:
        """Every configured credential, for the log redaction (never logged, never shown)."""
        values = [self.speech_key, self.token_secret, self.shadow_key]
        values += self.backends.secrets() if self.backends else []
        entries = (self.client_keys_env or "").replace(",", "\n").splitlines()
        if self.client_keys_file and self.client_keys_file.is_file():
            entries += self.client_keys_file.read_text(errors="replace").splitlines()
        for entry in entries:
            client, _, backend = (entry.split() or [""])[0].partition("=")
            if backend.startswith("pool:"):  # a pool's name, no secret
                backend = ""
            values += [client, backend.rpartition("@")[0] or backend]
        return [v for v in values if v and not v.startswith(("#", "sha256:"))]

    def validate(self) -> None:
        self._validate_numbers()
        self._validate_files()
        backends = [b for b in (self.speech_host, self.speech_endpoint) if b]
        if len(backends) > 1:
            raise ConfigError("give only one of --speech-host and --speech-endpoint")
        if self.backends_file and (self.speech_key or self.speech_region or backends):
            raise ConfigError(
                "--backends FILE names every Speech resource: give no --speech-key,"
                " --speech-region, --speech-host or --speech-endpoint with it"
            )
        if self.speech_key and not (self.speech_region or backends):
            raise ConfigError(
                "--speech-key needs --speech-region (or a --speech-host/--speech-endpoint)"
            )
        if self.auth is None and not (self.backend_kind == "embedded" and self.loopback):
            where = (
                f"on {self.host}" if not self.loopback else f"with the {self.backend_kind} backend"
            )
            raise ConfigError(
                f"refusing to serve {where} without --auth: anyone could use the speech backend."
                " Choose --auth keys (with --client-keys FILE or SHIM_CLIENT_KEYS),"
                " --auth passthrough (clients send Azure Speech keys), or --auth open explicitly"
            )
        if self.auth not in (None, "open", "keys", "passthrough"):
            raise ConfigError(f"--auth {self.auth!r}: choose open, keys or passthrough")
        if self.auth == "passthrough" and self.backends_file:
            raise ConfigError(
                "--auth passthrough sends each client's own Azure key, which belongs to one"
                " resource: it cannot use a pool (--backends). Use --auth keys, mapping client"
                " keys to pools"
            )
        if self.auth == "passthrough" and self.backend_kind == "azure" and not self.speech_region:
            raise ConfigError("--auth passthrough with Azure needs --speech-region")
        if self.auth == "keys" and not (self.client_keys_file or self.client_keys_env):
            raise ConfigError("--auth keys needs --client-keys FILE or SHIM_CLIENT_KEYS")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together")
        if self.languages not in ("legacy", "current"):
            raise ConfigError("--languages: choose legacy or current")
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine {self.engine!r}: choose {', '.join(ENGINES)}")

    def _validate_numbers(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port {self.port}: choose 0 (any free port) to 65535")
        for name in (
            "idle_timeout",
            "silence_timeout",
            "flush_timeout",
            "backend_timeout",
            "liveness_timeout",
            "header_timeout",
            "max_session_minutes",
        ):
            value = getattr(self, name)
            if not value > 0:  # also refuses nan
                raise ConfigError(f"--{name.replace('_', '-')} {value:g}: must be more than 0")
        if not self.drain_timeout >= 0:
            raise ConfigError(f"--drain-timeout {self.drain_timeout:g}: must be 0 or more")
        if self.max_sessions_per_key is not None and self.max_sessions_per_key < 1:
            raise ConfigError("--max-sessions-per-key must be at least 1")
        if self.workers < 1:
            raise ConfigError("--workers must be at least 1 (or auto: one per CPU)")
        if self.max_connections is not None and self.max_connections < 1:
            raise ConfigError("--max-connections must be at least 1")
        if self.backlog is not None and self.backlog < 1:
            raise ConfigError("--backlog must be at least 1")
        if self.languages_from not in ("engine", "catalog"):
            raise ConfigError("--languages-from: choose engine or catalog")
        if self.sdk_events not in ("auto", "fast", "fast-unverified", "public"):
            raise ConfigError("--sdk-events: choose auto, fast, fast-unverified or public")
        for name in ("capture_rate", "shadow_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"--{name.replace('_', '-')}: choose 0 to 1")
        if self.capture_max_bytes < 1 or not self.capture_retention_hours > 0:
            raise ConfigError("--capture-max-bytes and --capture-retention-hours must be > 0")
        if self.shadow_resource is not None:
            if not self.backends_file:
                raise ConfigError(
                    f"--shadow-backend {self.shadow_backend!r}: give the ws:// or wss:// URL"
                    " of a Speech service (a host, or a full endpoint), or the name of a"
                    " resource of --backends FILE"
                )
            if self.shadow_key:
                raise ConfigError(
                    "--shadow-key: a resource of the pool (--shadow-backend NAME) uses its own"
                    " key (its key_env)"
                )

    @property
    def shadow_resource(self) -> str | None:
        """``--shadow-backend NAME``: the resource of the pool file it names (None: a URL)."""
        value = self.shadow_backend
        if value is None or value.lower().startswith(("ws://", "wss://")):
            return None
        return value

    def _validate_files(self) -> None:
        files = {
            "--tls-cert": self.tls_cert,
            "--tls-key": self.tls_key,
            "--client-keys": self.client_keys_file,
            "--scenario": self.scenario,
            "--backends": self.backends_file,
        }
        for flag, path in files.items():
            if flag == "--scenario" and path is not None and path.is_dir():
                continue  # a directory of scenario files (a recording per audio file)
            if path is not None and not path.is_file():
                why = "is not a file" if path.exists() else "no such file"
                raise ConfigError(f"{flag} {path}: {why}")


def _workers(value: str) -> int:
    """``--workers``: a number, or ``auto`` for one worker per CPU."""
    if value.strip().lower() == "auto":
        return os.cpu_count() or 1
    return int(value)


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _size(value: str) -> int:
    """``--capture-max-bytes``: bytes, or a number with K, M, G or T (binary units)."""
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in _SIZE_UNITS else ""
    return int(float(text[: len(text) - len(unit)]) * _SIZE_UNITS[unit])


class _Source:
    """Where a setting comes from: its flag, else its environment variable."""

    def __init__(self, args: argparse.Namespace, env: Mapping[str, str]) -> None:
        self._args = args
        self.env = env

    def text(self, name: str) -> str | None:
        value = getattr(self._args, name, None)
        if value is None or value == "":
            value = self.env.get(ENVIRONMENT[name]) or None
        return None if value is None else str(value)

    def number(self, name: str, kind: Callable[[str], N], default: N) -> N:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            return kind(raw)
        except ValueError:
            raise ConfigError(f"--{name.replace('_', '-')}: {raw!r} is not a number") from None

    def decimal(self, name: str) -> float:
        """A number whose default is :class:`ServerSettings`'s."""
        default: float = getattr(ServerSettings, name)
        return self.number(name, float, default)

    def path(self, name: str) -> Path | None:
        raw = self.text(name)
        return Path(raw) if raw else None

    def properties(self) -> dict[str, str]:
        """``--sdk-property NAME=VALUE``, repeated."""
        properties = {}
        for item in getattr(self._args, "sdk_property", None) or []:
            name, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"--sdk-property {item!r}: expected NAME=VALUE")
            properties[name] = value
        return properties


def _backend_settings(src: _Source) -> dict[str, Any]:
    return {
        "speech_key": src.text("speech_key"),
        "speech_region": src.text("speech_region"),
        "speech_host": src.text("speech_host"),
        "speech_endpoint": src.text("speech_endpoint"),
        "backends_file": src.path("backends"),
        "scenario": src.path("scenario"),
        "engine": src.text("engine") or ServerSettings.engine,
        "sdk_properties": src.properties(),
        "sdk_events": src.text("sdk_events") or ServerSettings.sdk_events,
        "record_backend": src.path("record_backend"),
        "languages": src.text("languages") or "legacy",
        "languages_from": src.text("languages_from") or "engine",
    }


def _client_settings(src: _Source) -> dict[str, Any]:
    return {
        "auth": src.text("auth"),
        "client_keys_file": src.path("client_keys"),
        "client_keys_env": src.env.get("SHIM_CLIENT_KEYS") or None,
        "token_secret": src.text("token_secret"),
        "max_sessions_per_key": src.number("max_sessions_per_key", int, None),
    }


def _session_settings(src: _Source) -> dict[str, Any]:
    names: tuple[str, ...] = ("idle_timeout", "silence_timeout", "flush_timeout")
    names += ("backend_timeout", "liveness_timeout", "drain_timeout", "max_session_minutes")
    names += ("header_timeout",)
    return {name: src.decimal(name) for name in names}


def _connection_settings(src: _Source) -> dict[str, Any]:
    return {
        "host": src.text("host") or "127.0.0.1",
        "port": src.number("port", int, 5000),
        "max_connections": src.number("max_connections", int, None),
        "backlog": src.number("backlog", int, None),
        "workers": src.number("workers", _workers, 1),
        "tls_cert": src.path("tls_cert"),
        "tls_key": src.path("tls_key"),
    }


def _traffic_settings(src: _Source) -> dict[str, Any]:
    defaults = ServerSettings
    return {
        "capture_dir": src.path("capture_dir"),
        "capture_rate": src.number("capture_rate", float, defaults.capture_rate),
        "capture_max_bytes": src.number("capture_max_bytes", _size, defaults.capture_max_bytes),
        "capture_retention_hours": src.decimal("capture_retention_hours"),
        "shadow_backend": src.text("shadow_backend"),
        "shadow_rate": src.number("shadow_rate", float, defaults.shadow_rate),
        "shadow_key": src.text("shadow_key"),
    }


def settings_from(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> ServerSettings:
    """The settings of ``serve``: flags, then environment, then defaults; validated, and the
    pool file loaded."""
    src = _Source(args, os.environ if environ is None else environ)
    settings = ServerSettings(
        **_connection_settings(src),
        **_backend_settings(src),
        **_client_settings(src),
        **_session_settings(src),
        **_traffic_settings(src),
    )
    settings.validate()
    if settings.backends_file is None:
        return settings
    try:
        pool = load_pool_file(settings.backends_file, src.env)
    except PoolFileError as error:
        raise ConfigError(f"--backends {error}") from None
    shadow = settings.shadow_resource
    if shadow is not None and shadow not in {r.name for r in pool.resources}:
        raise ConfigError(
            f"--shadow-backend {shadow!r}: no resource of that name in --backends"
            f" {settings.backends_file}"
        )
    return replace(settings, backends=pool)
