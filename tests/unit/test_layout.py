"""The folder tree is the architecture: checks the import contracts cannot express."""

from __future__ import annotations

import ast
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


def test_the_spread_alias_serves_hints_alone() -> None:
    """``app/rules/benefits/spread.py`` is the old name of ``threshold.py``, kept only
    while ``app/rules/hints.py`` is rewritten elsewhere."""
    importers = []
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "app.rules.benefits.spread":
                importers.append(str(path.relative_to(APP.parent)))
    assert importers in ([], ["app/rules/hints.py"])
