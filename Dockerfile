# syntax=docker/dockerfile:1
# openai-proxy container image.
#   docker build -t openai-proxy:0.1.0 .
#   docker run --rm -p 8000:8000 openai-proxy:0.1.0 serve --demo
# Two stages: the builder installs the package and its dependencies into a virtualenv
# (all runtime dependencies ship manylinux wheels, so no compiler is needed); the
# runtime stage copies only that virtualenv and the migrations onto a clean slim base.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
# Dependency metadata first so that code changes keep the dependency layer cached.
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY supervisors ./supervisors
RUN pip install --no-cache-dir . \
    && python -m compileall -q /opt/venv

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="openai-proxy" \
      org.opencontainers.image.description="OpenAI-compatible LLM gateway" \
      org.opencontainers.image.licenses="MIT"
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    APP_HOST=0.0.0.0 \
    APP_PORT=8000 \
    DATA_DIR=/app/data \
    MIGRATIONS_DIR=/app/migrations
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app \
    && mkdir -p /app/data \
    && chown 10001:10001 /app/data \
    && chmod 0700 /app/data
COPY --from=builder /opt/venv /opt/venv
COPY migrations /app/migrations
WORKDIR /app
USER 10001:10001
# SQLite database, generated secrets and local payloads live here (embedded default).
VOLUME ["/app/data"]
EXPOSE 8000
# The app drains for SHUTDOWN_TIMEOUT seconds after SIGTERM; give `docker stop -t` more.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('APP_PORT', '8000') + '/health', timeout=3)"]
ENTRYPOINT ["openai-proxy"]
CMD ["serve"]
