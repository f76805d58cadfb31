"""The migration harness: legacy clients, session recordings, protocol checks, comparisons.

The harness judges the drop-in server (and any other legacy endpoint) from outside, over
the wire, as a client would. It therefore never imports ``shim.legacy``, ``shim.server``,
``shim.speech``, ``shim.emulator``, ``shim.auth``, ``shim.catalog`` or the server's
``shim.config``: a check that borrowed the server's own code would agree with the server's
mistakes. It may use the neutral modules (``shim.audiotime``, ``shim.redaction``,
``shim.espeak``, ``shim.serving``, …: docs/architecture.md).
``tests/unit/test_harness_imports.py`` and ``tests/unit/test_import_layers.py`` enforce this.

Sub-packages, each importing only from the ones listed before it:

- :mod:`~shim.harness.session`: one client session on the wire (WebSocket frames, the
  handshake request, the client profiles, WAV handling, espeak-ng, the session runner);
- :mod:`~shim.harness.recordings`: session recordings (format, recorder, the messages they
  carry, replay plans);
- :mod:`~shim.harness.checks`: judging sessions (contracts, protocol rules, conformance cases);
- :mod:`~shim.harness.compare`: two sessions side by side (sides, alignment, word diffs),
  and sets of such comparisons;
- :mod:`~shim.harness.reports`: what people read (HTML pages, terminal tables, JUnit XML);
- :mod:`~shim.harness.cli`: the commands ``client``, ``record``, ``replay``, ``replay-set``,
  ``validate``, ``conformance`` and ``compare``.

The server may use ``recordings``, ``compare`` and ``reports`` (its captures are recordings,
its shadow sessions comparisons); nothing here ever imports the server.
"""

LAYERS = ("session", "recordings", "checks", "compare", "reports", "cli")
"""The sub-packages from the bottom up: a module imports only from its own layer or below."""

FORBIDDEN = (
    "shim.legacy",
    "shim.server",
    "shim.speech",
    "shim.emulator",
    "shim.auth",
    "shim.catalog",
    "shim.config",
    "shim.cli",
)
"""What the harness judges and so must not import."""
