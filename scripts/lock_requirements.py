"""Write ``requirements/runtime.txt``: the runtime dependencies of ``pyproject.toml``
(no dev extras), each pinned at the version installed in this environment.

    .venv/bin/python scripts/lock_requirements.py

pip resolves the project's dependencies without installing anything
(``--dry-run --report``), constrained to what ``pip freeze`` says is installed, so
the lock is exactly what the tests ran against. The Dockerfile installs the
lock with ``--no-deps``; ``tests/deploy/test_container_files.py`` fails when the
lock and the environment disagree.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "runtime.txt"
HEADER = """\
# The service's runtime dependencies, every one pinned (the closure of pyproject.toml's
# [project.dependencies] as tested). The Dockerfile installs exactly these, with --no-deps.
# Regenerate after changing the dependencies: python scripts/lock_requirements.py
"""


def main() -> int:
    pip = [sys.executable, "-m", "pip"]
    with tempfile.TemporaryDirectory() as work:
        constraints = Path(work) / "installed.txt"
        frozen = subprocess.check_output([*pip, "freeze", "--exclude-editable"], text=True)
        constraints.write_text(frozen)
        report = Path(work) / "report.json"
        subprocess.run(
            [*pip, "install", "--quiet", "--dry-run", "--ignore-installed",
             "--report", str(report), "-c", str(constraints), str(ROOT)],
            check=True,
        )  # fmt: skip
        installs = json.loads(report.read_text())["install"]
    pins = sorted(
        (item["metadata"]["name"], item["metadata"]["version"])
        for item in installs
        if not item["is_direct"]
    )
    pins.sort(key=lambda pin: pin[0].lower())
    LOCK.write_text(HEADER + "".join(f"{name}=={version}\n" for name, version in pins))
    sys.stdout.write(f"{LOCK.relative_to(ROOT)}: {len(pins)} pins\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
