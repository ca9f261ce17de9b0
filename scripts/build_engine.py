"""Compile the pricing engine (``app/rules``) with mypyc into ``build/engine/``.

Optional: the pure-Python engine is always there and is what runs when this was
never run, when the sources changed since (``app.native`` compares digests), on
a machine without a C compiler, or with ``PRICING_ENGINE=pure``.

    .venv/bin/python scripts/build_engine.py          # build unless current
    .venv/bin/python scripts/build_engine.py --force  # build anyway
    .venv/bin/python scripts/build_engine.py --clean  # remove the build

Every module is compiled, ``model.py`` too (its records become native classes;
see its docstring for what keeps them alike in both builds); the packages'
``__init__.py`` stay interpreted (they only import). The build
is ``build/engine/``: the extension modules under ``app/rules/``, mypyc's shared
runtime library at the top, and ``manifest.json`` (module -> extension file,
source digest), which ``app.native`` reads. Nothing is written beside the sources.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.native import BUILD, MANIFEST, engine_sources, is_current  # noqa: E402

RULES = ROOT / "app" / "rules"
INTERPRETED = {"__init__.py"}


def compiled_sources() -> list[Path]:
    return sorted(p for p in RULES.rglob("*.py") if p.name not in INTERPRETED)


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def build() -> None:
    from mypyc.build import mypycify  # only the build needs mypy
    from setuptools import Distribution

    digests = engine_sources()  # before compiling: an edit meanwhile makes the build stale
    sources = compiled_sources()
    work = Path(tempfile.mkdtemp(prefix="engine-build-"))
    try:
        extensions = mypycify(
            [str(p.relative_to(ROOT)) for p in sources],
            opt_level="3",
            target_dir=str(work / "c"),
        )
        distribution = Distribution({"name": "pricing-engine", "ext_modules": extensions})
        command = distribution.get_command_obj("build_ext")
        command.build_lib = str(work / "lib")  # type: ignore[attr-defined]
        command.build_temp = str(work / "tmp")  # type: ignore[attr-defined]
        distribution.run_command("build_ext")
        outputs = {Path(o).relative_to(work / "lib") for o in command.get_outputs()}
        shutil.rmtree(BUILD, ignore_errors=True)
        shutil.copytree(work / "lib", BUILD)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    modules = {module_name(p): p for p in sources}
    extensions_by_module: dict[str, str] = {}
    runtime: dict[str, str] = {}
    for output in outputs:
        dotted = ".".join(output.with_name(output.name.split(".")[0]).parts)
        if dotted in modules:
            extensions_by_module[dotted] = str(output)
        else:
            runtime[dotted] = str(output)  # mypyc's shared library, <hash>__mypyc
    missing = set(modules) - set(extensions_by_module)
    if missing:
        raise SystemExit(f"mypyc built no extension for {sorted(missing)}")
    manifest = {
        "python": sys.implementation.cache_tag,
        "runtime": runtime,
        "sources": digests,
        "modules": {name: {"extension": extensions_by_module[name]} for name in modules},
    }
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="build even when current")
    parser.add_argument("--clean", action="store_true", help="remove build/engine and stop")
    args = parser.parse_args(argv)
    if args.clean:
        shutil.rmtree(BUILD, ignore_errors=True)
        return 0
    os.chdir(ROOT)  # mypyc takes the sources' paths relative to the project root
    if not args.force and is_current():
        print(f"engine build is current: {BUILD.relative_to(ROOT)}")
        return 0
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        print("no C compiler: the pure-Python engine runs (nothing built)")
        return 0
    build()
    print(f"engine compiled with mypyc into {BUILD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
