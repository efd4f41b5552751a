# carbon-gateway: OpenAI-compatible LLM gateway with inline carbon metering.
# Build from the repository root:  docker build -t carbon-gateway:0.1.0 .
# Exact tag pinned; for byte-for-byte reproducible builds also pin the digest
# (docker buildx imagetools inspect python:3.11.14-slim-bookworm) as python:3.11.14-slim-bookworm@sha256:...
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    CARBON_GATEWAY_DATA=/app/config \
    CARBON_GATEWAY_STATE_DIR=/var/lib/carbon-gateway

WORKDIR /app

# A fixed, unprivileged uid so Kubernetes' runAsNonRoot/runAsUser can match it.
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /app --shell /usr/sbin/nologin gateway

COPY pyproject.toml README.md ./
COPY gateway/ gateway/
COPY meters/ meters/
# config/ is the package's data (meters/data links to it; the wheel carries copies), and stays mountable here
# through CARBON_GATEWAY_DATA.
COPY config/ config/
RUN pip install . \
    && mkdir -p /var/lib/carbon-gateway \
    && chown gateway:gateway /var/lib/carbon-gateway

USER 10001:10001
EXPOSE 8080

# No curl in the slim image: the interpreter is already there.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]

# Secrets (GATEWAY_MASTER_KEY, GATEWAY_ADMIN_KEY, SCW_SECRET_KEY) come from the runtime environment only.
CMD ["carbon-gateway", "serve", "--host", "0.0.0.0", "--port", "8080"]
