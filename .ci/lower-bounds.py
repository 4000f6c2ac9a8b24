"""Print a pip constraints file that pins every declared floor of pyproject.toml exactly.

Reads ``[project.dependencies]`` and the extras named on the command line (default ``dev``)
and prints ``name==floor`` for each requirement's ``>=`` bound, so CI installs the oldest
versions the project claims to support. Generated at CI time, it cannot drift from
pyproject.toml. Standard library only: it runs before any virtualenv exists. A requirement
without exactly one floor is an error, since nothing would test it.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# PEP 508 name, optional [extras], then the version specifiers up to an environment marker.
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)")


def pin(requirement: str) -> tuple[str, str]:
    """The normalised name and ``name==floor`` line for one requirement string."""
    match = REQUIREMENT.match(requirement)
    if match is None:
        raise SystemExit(f"{requirement!r}: not a requirement")
    name, specifiers = match.groups()
    floors = [s.strip()[2:].strip() for s in specifiers.split(",") if s.strip().startswith(">=")]
    if len(floors) != 1:
        raise SystemExit(f"{requirement!r}: expected exactly one '>=' floor")
    return re.sub(r"[-_.]+", "-", name).lower(), f"{name}=={floors[0]}"


def constraints(project: dict, extras: list[str]) -> list[str]:
    """Pins for the runtime dependencies and the given extras, first mention wins."""
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    pins: dict[str, str] = {}
    for requirement in requirements:
        name, line = pin(requirement)
        pins.setdefault(name, line)
    return list(pins.values())


def main() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    print("\n".join(constraints(project, sys.argv[1:] or ["dev"])))


if __name__ == "__main__":
    main()
