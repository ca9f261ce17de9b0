"""The engine's records that write their ``__init__`` out (so mypyc compiles it: see
``app/rules/model.py``) keep the dataclass's own signature: every init field, in
order, with its default. ``replace`` and pickling (``cls(*fields)``) rely on it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "app" / "rules"


def _records() -> list[tuple[str, ast.ClassDef]]:
    found = []
    for path in sorted(RULES.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "id", "") == "dataclass"
                for d in node.decorator_list
            ):
                found.append((f"{path.relative_to(RULES)}:{node.name}", node))
    return found


def _init_fields(node: ast.ClassDef) -> list[tuple[str, str | None]]:
    """(name, default source) of each init field; a default_factory reads as None."""
    out: list[tuple[str, str | None]] = []
    for item in node.body:
        if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
            continue
        if ast.unparse(item.annotation).startswith("ClassVar"):
            continue
        value = item.value
        if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "field":
            keywords = {k.arg: k.value for k in value.keywords}
            if "init" in keywords:
                continue
            out.append((item.target.id, "None" if "default_factory" in keywords else None))
            continue
        out.append((item.target.id, None if value is None else ast.unparse(value)))
    return out


WRITTEN_OUT = [
    (name, node)
    for name, node in _records()
    if any(isinstance(b, ast.FunctionDef) and b.name == "__init__" for b in node.body)
]


def test_the_hot_records_write_their_init_out() -> None:
    names = {name.split(":")[1] for name, _ in WRITTEN_OUT}
    assert {"LineResult", "Quote", "Adjustment", "Assessment", "Placed", "Candidate"} <= names


@pytest.mark.parametrize(("name", "node"), WRITTEN_OUT, ids=[n for n, _ in WRITTEN_OUT])
def test_a_written_out_init_matches_the_fields(name: str, node: ast.ClassDef) -> None:
    init = next(b for b in node.body if isinstance(b, ast.FunctionDef) and b.name == "__init__")
    args = init.args.args[1:]
    defaults = [None] * (len(args) - len(init.args.defaults)) + [
        ast.unparse(d) for d in init.args.defaults
    ]
    assert not init.args.kwonlyargs
    assert init.args.vararg is None
    assert init.args.kwarg is None
    assert [(a.arg, d) for a, d in zip(args, defaults, strict=True)] == _init_fields(node), name
