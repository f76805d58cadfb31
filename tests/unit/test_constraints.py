"""constraints.txt pins every dependency pyproject.toml names (the image and `make` install
with it): a dependency added without `make lock` would go into images unpinned."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.unit

LOCKED_EXTRAS = ("test", "local", "local-multilingual")  # what deploy/lock.py resolves


def _name(requirement: str) -> str:
    """PEP 503 normalised project name of a requirement string."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match[0]).lower()


def test_every_dependency_of_the_project_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in LOCKED_EXTRAS:
        wanted |= {_name(r) for r in project["optional-dependencies"][extra]}
    wanted.discard(_name(project["name"]))  # an extra that includes another extra
    pinned = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pinned[_name(name)] = version
    missing = sorted(wanted - set(pinned))
    assert missing == [], f"run `make lock`: {missing} are not in constraints.txt"


def test_the_image_and_make_install_with_the_constraints() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all("--constraint constraints.txt" in line for line in installs)
    assert "COPY constraints.txt" in dockerfile
    assert "CONSTRAINTS ?= constraints.txt" in (ROOT / "Makefile").read_text()
