# syntax=docker/dockerfile:1
# The post-interview engine: `docker build -t post-interview .` (docker-compose.yml builds it).
# One image, three services: the worker (the default command), the webhook intake
# (`postinterview intake --host 0.0.0.0`) and the codec server (`postinterview codec-server ...`).
#
# Two stages: `build` installs the project and its dependencies into a virtualenv; the runtime
# stage gets that virtualenv, the worker entry point and the timing policy, and nothing else
# (no compiler caches, no sources, no tests). Everything the worker imports comes from the
# installed package (pyproject.toml).

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from the lock file alone, so that a code change does not reinstall them.
# requirements.lock (pip-compile --generate-hashes, `make lock`) pins every package the engine
# runs on, down to each file's SHA-256: the image installs exactly what was tested, and a
# package whose file changed on the index, or one the lock does not name, fails the build.
COPY requirements.lock ./
RUN pip install --require-hashes --only-binary=:all: -r requirements.lock

# Then the project itself (.dockerignore keeps tests, data, .git and virtualenvs out).
COPY . .
# The project itself adds no dependency the lock did not install (--no-deps); the import check
# runs from / so that it sees the installed package, not these sources.
RUN pip install --no-deps . \
    && cd / && python -c "import worker, service.settings, activities, domain, store, workflows, cli.main, service.http, service.codec_server, metrics.runtime, metrics.intake"


FROM ${PYTHON_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# An unprivileged user with a fixed uid/gid (Kubernetes' runAsNonRoot needs a numeric USER).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# worker.py is the entry point (`python worker.py`); the timing policy is read from
# POLICY_FILE=/app/config/policy.toml (mount another file over it to change the policy).
COPY worker.py ./
COPY config/policy.toml ./config/policy.toml
# The intake's mapping of ATS accounts, stages and reasons (INTAKE_CONFIG).
COPY config/intake.toml ./config/intake.toml
COPY deploy/worker_healthcheck.py ./healthcheck.py

USER 10001:10001

# Healthy = this container's worker has polled its task queue in the last minutes, as the
# Temporal server records it (see deploy/worker_healthcheck.py); a TCP check of the frontend
# would only say that Temporal is up.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "/app/healthcheck.py"]

# SIGTERM starts a graceful shutdown: running activities get up to 30 s to finish
# (worker.py), so give the container more than that before SIGKILL (compose: stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["python", "worker.py"]
