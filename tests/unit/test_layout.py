"""The folder tree is the architecture: checks the import contracts cannot express."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def test_no_module_name_in_two_packages() -> None:
    """One meaning per name: a module name (``admin``, ``errors``...) lives in one
    package only. ``__init__``/``__main__`` and the migrations are exempt."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in APP.rglob("*.py"):
        if path.stem.startswith("__") or "migrations" in path.parts:
            continue
        where[path.stem].append(str(path.relative_to(APP.parent)))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}
