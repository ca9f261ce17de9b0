"""The Dockerfile's own install and start commands, run here without Docker.

The install ``RUN`` of the build stage runs as written in a fresh virtual
environment (``/opt/venv`` replaced by a temporary one). Two liberties, both
for speed: the environment is made ``--without-pip`` and a ``.pth`` file lets it
see this project's installed packages, pip among them, so ``<venv>/bin/pip``
runs as ``<venv>/bin/python -m pip`` (the same pip, installing into the new
environment), and the pinned ``--no-deps`` install finds each pin satisfied
instead of downloading it (a pin that does not match what is installed would be
fetched — the lock test in ``test_container_files`` fails first). Then the
runtime stage's ``COPY`` of ``app/``, its ``ENV`` (loopback ``HOST`` and a port
of this suite's instead of ``0.0.0.0:8000``) and its ``CMD``: the service
answers ``/healthz``, the image's ``HEALTHCHECK`` command exits 0, and SIGTERM
shuts it down cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from tests.deploy.dockerfile import ROOT, exec_form, stages

PORT = 18721  # this suite's loopback port

pytestmark = pytest.mark.slow


def install_commands(run: str, venv: Path) -> list[str]:
    """The parts of the build stage's install RUN that make /opt/venv."""
    parts = [part.strip() for part in run.split("&&")]
    return [
        part.replace("/opt/venv/bin/pip ", "/opt/venv/bin/python -m pip ").replace(
            "/opt/venv", str(venv)
        )
        for part in parts
        if "/opt/venv" in part
    ]


def test_the_dockerfile_install_and_start_commands_give_a_healthy_service(
    tmp_path: Path,
) -> None:
    build, runtime = stages()["build"], stages()["runtime"]
    install = next(run for run in build.all("RUN") if "/opt/venv/bin/pip install" in run)
    venv, srv = tmp_path / "venv", tmp_path / "srv"
    commands = install_commands(install, venv)
    lock = (ROOT / "requirements" / "runtime.txt").read_text().splitlines()
    pins = sum(1 for line in lock if "==" in line and not line.startswith("#"))
    assert commands[0] == f"python -m venv {venv}"

    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    site = Path(
        subprocess.check_output(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            text=True,
        ).strip()
    )
    (site / "reuse-project-packages.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {
        **os.environ,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
    }
    env.pop("VIRTUAL_ENV", None)
    for command in commands[1:]:
        done = subprocess.run(
            command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        if "pip install" in command:  # every pin found installed: nothing fetched
            assert "Downloading" not in done.stdout, done.stdout
            assert done.stdout.count("Requirement already satisfied") == pins, done.stdout

    # COPY --from=build /src/app app/ (into WORKDIR /srv); no engine build here: pure
    assert runtime.last("WORKDIR") == "/srv"
    shutil.copytree(ROOT / "app", srv / "app", ignore=shutil.ignore_patterns("__pycache__"))
    image_env = runtime.env()
    image_env["PATH"] = (
        image_env["PATH"].replace("/opt/venv", str(venv)).replace("$PATH", env["PATH"])
    )
    image_env |= {"HOST": "127.0.0.1", "PORT": str(PORT), "PRICING_ENGINE": "pure", "WORKERS": "1"}
    service_env = {
        "PATH": image_env["PATH"],
        "HOME": str(tmp_path),
        **image_env,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'pricing.db'}",
    }
    command = exec_form(runtime.last("CMD"))
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=srv, env=service_env, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{PORT}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "no healthy /healthz within 30 s"
            time.sleep(0.2)
        # the service runs from the fresh environment and the copied sources
        probe = exec_form(runtime.last("HEALTHCHECK"))
        healthy = subprocess.run(probe, cwd=srv, env=service_env, timeout=10, check=False)
        assert healthy.returncode == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete." in log_path.read_text()
        stopped = subprocess.run(probe, cwd=srv, env=service_env, timeout=10, check=False)
        assert stopped.returncode == 1  # the probe does fail when nothing answers
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
