"""The harness commands of ``translator-speech-shim``: parsers in :mod:`.tools` and
:mod:`.client`, one module per command, shared pieces in :mod:`.common`."""
