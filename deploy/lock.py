"""Write ``constraints.txt``: every package ``.[test,local-multilingual]`` resolves to, pinned
(``local-multilingual`` includes ``local``).

pip resolves the project's dependencies against the package index without installing
anything (``pip install --dry-run --report``); the report lists each package it would install.
The Dockerfile and ``make`` install with ``--constraint constraints.txt``, so an image or a
fresh virtualenv gets exactly these versions. Run ``make lock`` after changing
``pyproject.toml``'s dependencies.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = "test,local-multilingual"
HEADER = f"""\
# Pinned versions of everything `pip install .[{EXTRAS}]` installs (see deploy/lock.py).
# Used as `pip install --constraint constraints.txt ...` by the Dockerfile and `make`.
# Regenerate with `make lock` after changing the dependencies in pyproject.toml.
"""


def resolve() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(report),
                f".[{EXTRAS}]",
            ],
            cwd=ROOT,
            check=True,
        )
        installs = json.loads(report.read_text())["install"]
    project = "translator-speech-shim"
    return {
        item["metadata"]["name"]: item["metadata"]["version"]
        for item in installs
        if item["metadata"]["name"] != project
    }


def main() -> int:
    pins = resolve()
    lines = [
        f"{name}=={version}" for name, version in sorted(pins.items(), key=lambda p: p[0].lower())
    ]
    (ROOT / "constraints.txt").write_text(HEADER + "\n".join(lines) + "\n")
    print(f"constraints.txt: {len(lines)} packages pinned")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
