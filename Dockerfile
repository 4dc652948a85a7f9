# One image for all three Signpost services; pick one with the command:
#   signpost intake (default) | signpost router | signpost notifier
# Set SIGNPOST_HEALTH_PORT to the service's port (8080 intake, 8081 router, 8082 notifier)
# so the HEALTHCHECK asks the right /healthz.

# ---- builder: compile a virtualenv with Signpost and its dependencies ----------------------
FROM python:3.11.11-slim-bookworm AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Build context is filtered by .dockerignore (no tests, venvs, git or local data).
COPY . .
RUN pip install --upgrade pip setuptools wheel \
    && pip wheel --no-deps --wheel-dir /wheels . \
    && pip install /wheels/*.whl

# ---- runtime: slim Python, the venv, a non-root user; no compilers --------------------------
FROM python:3.11.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SIGNPOST_INTAKE_HOST=0.0.0.0 \
    SIGNPOST_HEALTH_BIND=0.0.0.0 \
    SIGNPOST_DATA_DIR=/var/lib/signpost \
    SIGNPOST_HEALTH_PORT=8080
RUN groupadd --system --gid 10001 signpost \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/signpost --no-create-home signpost \
    && mkdir -p /var/lib/signpost /etc/signpost/bundle \
    && chown 10001:10001 /var/lib/signpost
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /var/lib/signpost
EXPOSE 8080 8081 8082
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SIGNPOST_HEALTH_PORT', '8080') + '/healthz', timeout=3)"]
CMD ["signpost", "intake"]
