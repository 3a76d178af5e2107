# syntax=docker/dockerfile:1.7
# Lockstep installer-agent: the installer agent of one site (normally installed on the site host).
# Build from the repository root (the build context is the whole workspace, see .dockerignore):
#   docker build -f deploy/docker/installer-agent.Dockerfile -t lockstep/installer-agent .
# Runs as `lockstep-installer-agent serve` (default) or `lockstep-installer-agent migrate`.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8

FROM ${UV_IMAGE} AS uv

# ---------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# 1. Third-party dependencies only, from the workspace lock: cached until uv.lock changes.
#    uv needs every workspace member's pyproject.toml to read the workspace.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY services/orchestrator/pyproject.toml services/orchestrator/
COPY services/device-gateway/pyproject.toml services/device-gateway/
COPY services/release-watcher/pyproject.toml services/release-watcher/
COPY services/installer-agent/pyproject.toml services/installer-agent/
COPY tools/pyproject.toml tools/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package lockstep-installer-agent

# 2. The two workspace packages this service is made of, installed as real (non-editable)
#    packages so the virtual environment alone is the application.
COPY shared/src/ shared/src/
COPY services/installer-agent/src/ services/installer-agent/src/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package lockstep-installer-agent

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="lockstep-installer-agent" \
      org.opencontainers.image.description="Lockstep installer-agent: the installer agent of one site (normally installed on the site host)"

# A fixed numeric uid/gid so Kubernetes runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 lockstep \
 && useradd --system --uid 10001 --gid lockstep --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin lockstep \
 && mkdir -p /app /var/lib/lockstep \
 && chown lockstep:lockstep /var/lib/lockstep

# Owned by root, read-only for the service user: the code cannot be changed at run time.
COPY --from=builder /app/.venv /app/.venv
# The demo installer scripts, so the default installer/version commands work as an example.
# A real site host runs the agent from deploy/agent/ with its own installer instead.
COPY --chown=root:root --chmod=0755 tools/demo-host/ /app/tools/demo-host/

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOCKSTEP_VAR_DIR=/var/lib/lockstep \
    LOCKSTEP_DEMO_HOST_DIR=/var/lib/lockstep/host \
    LOCKSTEP_AGENT_HOST=0.0.0.0 \
    LOCKSTEP_AGENT_PORT=8003

WORKDIR /app
USER 10001:10001
EXPOSE 8003
VOLUME ["/var/lib/lockstep"]

# Ready = database and bus reachable (/readyz answers 503 otherwise, and urlopen raises).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8003/readyz', timeout=4)"]

ENTRYPOINT ["lockstep-installer-agent"]
CMD ["serve"]
