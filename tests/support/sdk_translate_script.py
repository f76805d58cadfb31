"""Run one continuous translation with the real SDK in its own process; print events as JSON.

Used to check that a real SDK process exits 0 after a session (no "exception not rethrown"
abort, usp-speech-service.md §10).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sys

from tests.support.paths import read_pcm
from tests.support.sdk_harness import translate_continuous


def main() -> None:
    url, key, wav, targets, voice = sys.argv[1:6]
    events = translate_continuous(
        url, key, read_pcm(wav), targets=targets.split(","), voice=voice or None
    )
    for event in events:
        record = dataclasses.asdict(event)
        record["audio"] = base64.b64encode(event.audio).decode()
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
