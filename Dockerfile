# syntax=docker/dockerfile:1
# The promotion pricing service (docs/deployment.md).
#
# build:   the pinned dependencies into /opt/venv, and the pricing engine (app/rules)
#          compiled with mypyc (scripts/build_engine.py, as `make engine` does)
# runtime: slim Python, that venv, the sources and the engine build; a non-root user;
#          `python -m app` (uvicorn) on PORT with WORKERS, configured by the environment only
#
#   docker build -t promo-pricing .
#   docker run --rm -p 8000:8000 -e DATABASE_URL=... -e REDIS_URL=... \
#       -e PRICING_API_KEYS=... promo-pricing

ARG PYTHON_VERSION=3.11.7

FROM python:${PYTHON_VERSION}-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/ requirements/
# exactly the pinned closure (--no-deps: nothing unpinned comes in; pip check: nothing missing);
# the compiler's venv adds mypy and setuptools to it and stays in this stage
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps -r requirements/runtime.txt \
    && /opt/venv/bin/pip check \
    && python -m venv /opt/compiler \
    && /opt/compiler/bin/pip install --no-cache-dir --no-deps \
        -r requirements/runtime.txt -r requirements/build.txt
COPY app/ app/
COPY scripts/build_engine.py scripts/
# then prove the build is used, and byte-compile the sources for a faster start
RUN /opt/compiler/bin/python scripts/build_engine.py --force \
    && PRICING_ENGINE=compiled /opt/venv/bin/python -c "import app.rules.engine" \
    && /opt/venv/bin/python -m compileall -q app

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=2 \
    SHUTDOWN_TIMEOUT_SECONDS=20 \
    PRICING_ENGINE=compiled
RUN groupadd --system --gid 10001 pricing \
    && useradd --system --uid 10001 --gid pricing --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin pricing
WORKDIR /srv
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/app app/
COPY --from=build /src/build/engine build/engine/
USER 10001:10001
EXPOSE 8000
# uvicorn takes SIGTERM as a graceful shutdown: it stops accepting, lets the requests in
# flight finish (up to SHUTDOWN_TIMEOUT_SECONDS), then runs the lifespan's shutdown
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "app.cli.healthcheck"]
CMD ["python", "-m", "app"]
