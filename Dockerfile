# syntax=docker/dockerfile:1
# Alfred gateway image: `docker build -t alfred .` at the repository root.
# One image runs every role: `alfred serve` (default), `alfred worker` (image jobs), `alfred migrate`.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: install Alfred and its extras into a virtualenv (wheels only; no compiler in the image) ----
FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=postgres,redis,vault
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/alfred
WORKDIR /src
# Metadata first, so the dependency layer is reused while only the source changes.
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/alfred/bin/pip install --no-cache-dir ".[${EXTRAS}]"

# ---- runtime: the virtualenv and nothing else, run as an unprivileged user ----
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="alfred" \
      org.opencontainers.image.description="Alfred, an OpenAI-compatible AI gateway" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 alfred \
 && useradd --system --uid 10001 --gid alfred --home-dir /var/lib/alfred --create-home --shell /usr/sbin/nologin alfred
COPY --from=build /opt/alfred /opt/alfred
ENV PATH=/opt/alfred/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ALFRED_CONFIG=/etc/alfred/alfred.yaml \
    ALFRED_SERVER__HOST=0.0.0.0 \
    ALFRED_SERVER__PORT=9090
WORKDIR /var/lib/alfred
USER 10001:10001
EXPOSE 9090
# The liveness probe in Python: the slim image has no curl, and the port follows ALFRED_SERVER__PORT.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('ALFRED_SERVER__PORT', '9090') + '/health/live', timeout=2)"]
ENTRYPOINT ["alfred"]
CMD ["serve"]
