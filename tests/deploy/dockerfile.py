"""A small reader of the repository's Dockerfile: its stages and instructions,
so the tests can check them and run the commands they name."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    name: str
    image: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]

    def last(self, instruction: str) -> str:
        found = self.all(instruction)
        assert found, f"stage {self.name} has no {instruction}"
        return found[-1]

    def env(self) -> dict[str, str]:
        """ENV key=value pairs, in order (later ones win)."""
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        name, _, args = whole.partition(" ")
        found.append((name.upper(), args.strip()))
    return found


def stages(path: Path = DOCKERFILE) -> dict[str, Stage]:
    result: dict[str, Stage] = {}
    args: dict[str, str] = {}
    current: Stage | None = None
    for name, rest in instructions(path.read_text()):
        if name == "ARG" and current is None:
            key, _, value = rest.partition("=")
            args[key] = value
        elif name == "FROM":
            image, _, alias = rest.partition(" AS ")
            for key, value in args.items():
                image = image.replace("${" + key + "}", value)
            current = Stage(alias.strip(), image.strip())
            result[current.name] = current
        elif current is not None:
            current.instructions.append((name, rest))
    return result


def exec_form(args: str) -> list[str]:
    """The JSON array of a CMD/HEALTHCHECK CMD."""
    start = args.index("[")
    command: list[str] = json.loads(args[start:])
    return command
