"""Which build of the pricing engine this process runs: compiled or pure Python.

``scripts/build_engine.py`` (``make engine``, run by ``make test``) compiles
``app/rules`` with mypyc into ``build/engine/``. Importing ``app`` installs
``install()``'s finder, which loads a module of ``app.rules`` from that build
when the build is *current* — made by this Python, and the digest of every
``.py`` file of ``app/rules`` (compiled or not: the compiled code was checked
against ``model.py``'s types) equal to the build's — and otherwise leaves the import
to the ordinary ``.py`` sources. So an edit to the engine is never shadowed by a
stale build; it runs interpreted until the next build.

``PRICING_ENGINE``: ``auto`` (default: compiled when current, else pure),
``pure`` (never the build: the reference the differential test compares
against), ``compiled`` (refuse to start without a current build). ``ENGINE``
says which one this process got.

Compiled and pure must give identical quotes:
``tests/unit/test_engine_build.py`` compares them.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "engine"
MANIFEST = BUILD / "manifest.json"


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest() -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return None
    return found


def engine_sources() -> dict[str, str]:
    """Every source file of the engine (``app/rules``), by path, with its digest."""
    rules = ROOT / "app" / "rules"
    return {
        str(path.relative_to(ROOT)): source_digest(path) for path in sorted(rules.rglob("*.py"))
    }


def _current(manifest: dict[str, Any] | None) -> bool:
    if manifest is None or manifest.get("python") != sys.implementation.cache_tag:
        return False
    if manifest.get("sources") != engine_sources():
        return False
    for entry in manifest["modules"].values():
        if not (BUILD / entry["extension"]).exists():
            return False
    return all((BUILD / path).exists() for path in manifest["runtime"].values())


def is_current() -> bool:
    """Whether ``build/engine`` holds a build of today's engine sources for this Python."""
    return _current(_manifest())


class _CompiledEngineFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled engine modules (and mypyc's runtime library) in the build."""

    def __init__(self, files: dict[str, Path]) -> None:
        self._files = files

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,  # noqa: ARG002  (the MetaPathFinder signature)
        target: ModuleType | None = None,  # noqa: ARG002
    ) -> importlib.machinery.ModuleSpec | None:
        file = self._files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def install() -> str:
    """Put the compiled engine in front of the sources when wanted and current;
    returns ``"compiled"`` or ``"pure"``."""
    wanted = os.environ.get("PRICING_ENGINE", "auto").strip().lower() or "auto"
    if wanted not in {"auto", "pure", "compiled"}:
        raise RuntimeError(f"PRICING_ENGINE must be auto, pure or compiled, not {wanted!r}")
    if wanted == "pure":
        return "pure"
    manifest = _manifest()
    if not _current(manifest):
        if wanted == "compiled":
            raise RuntimeError(
                "PRICING_ENGINE=compiled but build/engine is missing or stale: "
                "run `make engine` (scripts/build_engine.py)"
            )
        return "pure"
    assert manifest is not None
    if any(name in sys.modules for name in manifest["modules"]):
        return "pure"  # the engine was imported before app: too late to switch
    files = {name: BUILD / path for name, path in manifest["runtime"].items()}
    files |= {name: BUILD / e["extension"] for name, e in manifest["modules"].items()}
    sys.meta_path.insert(0, _CompiledEngineFinder(files))
    return "compiled"


ENGINE = install()
