# syntax=docker/dockerfile:1.7
# Lockstep device-gateway: the device API.
# Build from the repository root (the build context is the whole workspace, see .dockerignore):
#   docker build -f deploy/docker/device-gateway.Dockerfile -t lockstep/device-gateway .
# Runs as `lockstep-device-gateway serve` (default) or `lockstep-device-gateway migrate`.

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
    uv sync --frozen --no-dev --no-install-workspace --package lockstep-device-gateway

# 2. The two workspace packages this service is made of, installed as real (non-editable)
#    packages so the virtual environment alone is the application.
COPY shared/src/ shared/src/
COPY services/device-gateway/src/ services/device-gateway/src/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package lockstep-device-gateway

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="lockstep-device-gateway" \
      org.opencontainers.image.description="Lockstep device-gateway: the device API"

# A fixed numeric uid/gid so Kubernetes runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 lockstep \
 && useradd --system --uid 10001 --gid lockstep --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin lockstep \
 && mkdir -p /app /var/lib/lockstep \
 && chown lockstep:lockstep /var/lib/lockstep

# Owned by root, read-only for the service user: the code cannot be changed at run time.
COPY --from=builder /app/.venv /app/.venv

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOCKSTEP_VAR_DIR=/var/lib/lockstep \
    LOCKSTEP_GATEWAY_HOST=0.0.0.0 \
    LOCKSTEP_GATEWAY_PORT=8001

WORKDIR /app
USER 10001:10001
EXPOSE 8001
VOLUME ["/var/lib/lockstep"]

# Ready = database and bus reachable (/readyz answers 503 otherwise, and urlopen raises).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8001/readyz', timeout=4)"]

ENTRYPOINT ["lockstep-device-gateway"]
CMD ["serve"]
