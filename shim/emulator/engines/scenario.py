"""Scenario files for the scripted engine: loading, validation, writing and the typed model.

A scenario says what is "said" in the audio a client streams (utterances with optional
times and translations) and which faults the service injects. Files are validated against
``contracts/scenario.schema.json`` on load and before they are written (``serve
--record-backend`` writes them: :func:`save_scenario`); a bad file is a one-line error naming
the field.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shim import boundedjson
from shim.contractcheck import contract_problem
from shim.emulator.engines.fingerprint import Fingerprint
from shim.emulator.engines.fingerprint import fingerprint as fingerprint_of
from shim.pcmformat import Encoding, PcmConverter, WavFormat


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Utterance:
    text: str
    translations: dict[str, str] = field(default_factory=dict)
    offset_ms: int | None = None
    duration_ms: int | None = None
    recognition_status: str = "Success"
    audio: dict[str, str] = field(default_factory=dict)  # language -> WAV path (absolute)
    language: str | None = None  # the locale spoken, for language identification

    @property
    def timed(self) -> bool:
        return self.offset_ms is not None


@dataclass(frozen=True)
class Recording:
    """What one audio file says (scenario per audio): known by the fingerprint of its first
    second of speech (:mod:`shim.emulator.engines.fingerprint`), wherever it is heard in a session.
    Utterance times count from the recording's start."""

    fingerprint: Fingerprint
    utterances: tuple[Utterance, ...]
    name: str = ""
    duration_ms: int | None = None


@dataclass(frozen=True)
class Fault:
    at_upgrade: bool = False
    at_turn_start: bool = False
    after_phrase: int | None = None
    on_phrase: int | None = None
    http_status: int | None = None
    close_code: int | None = None
    close_reason: str = ""
    recognition_status: str | None = None
    lose: bool = False  # on_phrase: the phrase is never sent (a result lost in the service)
    delay_ms: int | None = None
    hang: bool = False
    reset: bool = False
    once: bool = False

    @property
    def key(self) -> str:
        """A stable identity, so ``once`` can be remembered per connection id."""
        return json.dumps(self.__dict__, sort_keys=True)


@dataclass(frozen=True)
class Scenario:
    utterances: tuple[Utterance, ...] = ()
    recordings: tuple[Recording, ...] = ()
    faults: tuple[Fault, ...] = ()
    segmentation_silence_ms: int = 500
    synthesis_engine: str = "auto"
    synthesis_chunk_ms: int = 500
    source: str = "<built-in>"
    description: str = ""

    def recorded_audio(self, language: str, text: str) -> Path | None:
        """A recorded WAV for this translation, if the scenario carries one."""
        every = (*self.utterances, *(u for r in self.recordings for u in r.utterances))
        for utterance in every:
            path = utterance.audio.get(language)
            if path and utterance.translations.get(language) == text:
                return Path(path)
        return None

    def with_faults(self, extra: tuple[Fault, ...]) -> Scenario:
        return dataclasses.replace(self, faults=self.faults + extra)


# Combinator failures print the whole instance; say what is wanted instead.
_FRIENDLY = {
    "oneOf": "a fault needs exactly one trigger: at_upgrade, at_turn_start, after_phrase"
    " or on_phrase (with recognition_status or lose)",
    "anyOf": "a fault needs an action: http_status, close_code, recognition_status, lose,"
    " delay_ms, hang or reset",
}


def validate(document: Any, source: str) -> None:
    problem = contract_problem(document, "scenario.schema.json", _FRIENDLY)
    if problem is not None:
        raise ScenarioError(f"{source}: {problem}")


def fault_from_dict(data: dict[str, Any]) -> Fault:
    return Fault(**data)


def scenario_from_dict(
    document: Any, source: str = "<inline>", base: Path | None = None
) -> Scenario:
    validate(document, source)
    synthesis = document.get("synthesis", {})
    folder = base or Path.cwd()
    recordings = tuple(
        Recording(
            fingerprint=Fingerprint(
                item["fingerprint"]["speech_ms"], tuple(item["fingerprint"]["levels"])
            ),
            utterances=_utterances(item["utterances"], folder),
            name=item.get("name", ""),
            duration_ms=item.get("duration_ms"),
        )
        for item in document.get("recordings", [])
    )
    return Scenario(
        utterances=_utterances(document.get("utterances", []), folder),
        recordings=recordings,
        faults=tuple(fault_from_dict(f) for f in document.get("faults", [])),
        segmentation_silence_ms=document.get("segmentation_silence_ms", 500),
        synthesis_engine=synthesis.get("engine", "auto"),
        synthesis_chunk_ms=synthesis.get("chunk_ms", 500),
        source=source,
        description=document.get("description", ""),
    )


def _utterances(items: list[dict[str, Any]], folder: Path) -> tuple[Utterance, ...]:
    utterances = []
    for item in items:
        audio = {lang: str(folder / path) for lang, path in item.get("audio", {}).items()}
        utterances.append(Utterance(**{**item, "audio": audio}))
    return tuple(utterances)


MAX_SCENARIO_FILES = 1000  # in a scenario directory


def load_scenario(path: str | Path) -> Scenario:
    """A scenario file, or a directory of them: one scenario with every file's recordings,
    utterances and faults (in file name order), so many audio files share one key."""
    path = Path(path)
    if path.is_dir():
        return _load_directory(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        document = boundedjson.loads(text)
    except ValueError as exc:
        raise ScenarioError(f"{path}: not valid JSON ({exc})") from None
    return scenario_from_dict(document, str(path), path.parent)


def _load_directory(path: Path) -> Scenario:
    files = sorted(path.glob("*.json"))
    if len(files) > MAX_SCENARIO_FILES:
        raise ScenarioError(f"{path}: more than {MAX_SCENARIO_FILES} scenario files")
    parts = [load_scenario(file) for file in files]
    if not parts:
        return Scenario(source=str(path))
    return dataclasses.replace(
        parts[0],
        utterances=tuple(u for p in parts for u in p.utterances),
        recordings=tuple(r for p in parts for r in p.recordings),
        faults=tuple(f for p in parts for f in p.faults),
        source=str(path),
    )


def scenario_to_dict(scenario: Scenario, base: Path) -> dict[str, Any]:
    """The file form of ``scenario``: only what differs from the defaults, audio paths
    relative to ``base`` (the scenario file's folder), as :func:`scenario_from_dict` reads."""
    document: dict[str, Any] = {}
    if scenario.description:
        document["description"] = scenario.description
    if scenario.utterances or not scenario.recordings:
        document["utterances"] = [_utterance_to_dict(u, base) for u in scenario.utterances]
    if scenario.recordings:
        document["recordings"] = [_recording_to_dict(r, base) for r in scenario.recordings]
    if scenario.faults:
        document["faults"] = [_non_default(fault) for fault in scenario.faults]
    if scenario.segmentation_silence_ms != Scenario.segmentation_silence_ms:
        document["segmentation_silence_ms"] = scenario.segmentation_silence_ms
    synthesis: dict[str, Any] = {}
    if scenario.synthesis_engine != Scenario.synthesis_engine:
        synthesis["engine"] = scenario.synthesis_engine
    if scenario.synthesis_chunk_ms != Scenario.synthesis_chunk_ms:
        synthesis["chunk_ms"] = scenario.synthesis_chunk_ms
    if synthesis:
        document["synthesis"] = synthesis
    return document


def save_scenario(scenario: Scenario, path: Path) -> None:
    """Write ``scenario`` to ``path`` (UTF-8 JSON), validated first: what is written loads."""
    document = scenario_to_dict(scenario, path.parent)
    validate(document, str(path))
    path.write_text(dumps(document) + "\n", "utf-8")


_NUMBER_LIST = re.compile(r"\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]")


def dumps(document: dict[str, Any]) -> str:
    """A scenario as indented JSON, with lists of numbers (fingerprints) on one line."""
    text = json.dumps(document, ensure_ascii=False, indent=1)
    return _NUMBER_LIST.sub(
        lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text
    )


def _recording_to_dict(recording: Recording, base: Path) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if recording.name:
        item["name"] = recording.name
    if recording.duration_ms is not None:
        item["duration_ms"] = recording.duration_ms
    item["fingerprint"] = {
        "speech_ms": recording.fingerprint.speech_ms,
        "levels": list(recording.fingerprint.levels),
    }
    item["utterances"] = [_utterance_to_dict(u, base) for u in recording.utterances]
    return item


def _utterance_to_dict(utterance: Utterance, base: Path) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if utterance.offset_ms is not None:
        item["offset_ms"] = utterance.offset_ms
    if utterance.duration_ms is not None:
        item["duration_ms"] = utterance.duration_ms
    item["text"] = utterance.text
    if utterance.translations:
        item["translations"] = dict(utterance.translations)
    if utterance.recognition_status != "Success":
        item["recognition_status"] = utterance.recognition_status
    if utterance.language is not None:
        item["language"] = utterance.language
    if utterance.audio:
        item["audio"] = {
            language: Path(os.path.relpath(wav, base)).as_posix()
            for language, wav in utterance.audio.items()
        }
    return item


def _non_default(fault: Fault) -> dict[str, Any]:
    return {
        f.name: getattr(fault, f.name)
        for f in dataclasses.fields(fault)
        if getattr(fault, f.name) != f.default
    }


def recording_from_wav(path: Path, utterances: tuple[Utterance, ...] = ()) -> Recording:
    """A recording for a WAV file (any PCM, float, A-law or mu-law format): its fingerprint,
    its length, and what it says (``utterances``)."""
    try:
        with wave.open(str(path)) as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            frames = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise ScenarioError(f"{path}: not a WAV file this reads ({exc})") from None
    converter = PcmConverter(WavFormat(Encoding.PCM, rate, channels, width * 8))
    pcm = converter.convert(frames) + converter.flush()
    print_ = fingerprint_of(pcm)
    if print_ is None:
        raise ScenarioError(f"{path}: no speech to know it by")
    return Recording(print_, utterances, path.name, len(pcm) * 1000 // 32_000)


def parse_fault_spec(text: str) -> tuple[Fault, ...]:
    """A per-connection fault: a JSON object or list of objects, validated like the file's."""
    try:
        data = boundedjson.loads(text)
    except ValueError as exc:
        raise ScenarioError(f"fault: not valid JSON ({exc})") from None
    faults = data if isinstance(data, list) else [data]
    validate({"faults": faults}, "fault")
    return tuple(fault_from_dict(f) for f in faults)
