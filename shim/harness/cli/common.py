"""What every harness command shares: exit codes, consoles, credentials, TLS and audio.

Exit codes: 0 success, 1 the session/contract/comparison failed, 2 local problems (bad
file, bad option), 3 the endpoint could not be reached or refused the handshake.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import ssl
from pathlib import Path
from typing import Any

from rich.console import Console

from shim.harness.session import synth, wavfile
from shim.harness.session.frame_client import make_ssl_context
from shim.harness.session.request import Credential

EXIT_OK, EXIT_SESSION, EXIT_LOCAL, EXIT_CONNECT = 0, 1, 2, 3
DEFAULT_URL = "http://127.0.0.1:5000"
KEY_VARIABLE = "TRANSLATOR_KEY"
DEMO_KEY = "local-demo"  # any non-empty key opens a session on a server in open mode


def console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def errors() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def credential_from(key: str | None, token: str | None) -> Credential | None:
    """The credential given on the command line, if any (a token wins over a key that came
    from the environment)."""
    if token:
        return Credential("token", token)
    if key:
        return Credential("key", key)
    return None


def default_credential(key: str | None = None, token: str | None = None) -> Credential:
    """What ``client`` sends: the given key or token, else ``$TRANSLATOR_KEY``, else the
    demo key a server in open mode accepts."""
    given = credential_from(key, token)
    if given is not None:
        return given
    return Credential("key", os.environ.get(KEY_VARIABLE) or DEMO_KEY)


def ssl_from(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.cafile or args.insecure:
        return make_ssl_context(args.cafile, insecure=args.insecure)
    return None


def audio_context(audio: bytes, source: str) -> dict[str, Any]:
    """How a recording's header describes the audio a session streamed."""
    return {"source": source, "size": len(audio), "sha256": hashlib.sha256(audio).hexdigest()}


def session_audio(audio: Path | None, text: str | None, locale: str) -> bytes:
    """``audio`` checked to be a readable WAV, or a sentence spoken by espeak-ng."""
    if audio is not None:
        data = audio.read_bytes()
        wavfile.pcm16_mono(data)  # WavError early, not in the middle of a run
        return data
    sentence = text or synth.default_sentence(locale) or synth.SENTENCES["en"]
    return synth.synthesize(sentence, locale)
