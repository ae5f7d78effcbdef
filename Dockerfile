# The alert aggregator's image: `aggregator serve` on port 8080, as UID 10001, with a
# read-only root filesystem. Build: docker build -t aggregator:0.1.0 .
# Writable paths: /tmp (mount an emptyDir in Kubernetes) and /var/lib/aggregator, the
# working directory, where the default SQLite database (./aggregator.db) goes. With
# PostgreSQL (AGGREGATOR_DATABASE_URL) nothing but /tmp is ever written. See deploy/README.md.
# Both stages use the same base (the builder's venv points at its /usr/local/bin/python3.11);
# release builds may pin it by digest (python:3.11-slim-trixie@sha256:...) in both places.

# Builder: a virtual environment with the package and its dependencies (the version ranges
# of pyproject.toml), installed from wheels; the final stage copies only the environment.
FROM python:3.11-slim-trixie AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY aggregator ./aggregator
# Non-editable install: migrations and mail templates ship as package data.
# --only-binary: every dependency comes as a wheel, nothing is compiled (there is no
# compiler in either stage); a dependency without a wheel fails the build loudly.
RUN /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: . \
 && /opt/venv/bin/aggregator --help > /dev/null

# Runtime: the slim base (no compilers) plus the environment from the builder.
FROM python:3.11-slim-trixie
LABEL org.opencontainers.image.title="aggregator" \
      org.opencontainers.image.description="Unified alert aggregator: Alertmanager and Azure Monitor webhooks in, one history and one page out" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 aggregator \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/aggregator \
            --no-create-home --shell /usr/sbin/nologin aggregator \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/aggregator
COPY --from=builder /opt/venv /opt/venv
WORKDIR /var/lib/aggregator
VOLUME ["/var/lib/aggregator"]
USER 10001:10001
EXPOSE 8080
# The process is PID 1 (exec form, no shell in between): SIGTERM reaches aiohttp, which
# stops accepting, finishes requests in flight and stops the worker within 20 s.
STOPSIGNAL SIGTERM
# For plain Docker; Kubernetes ignores it and uses the Deployment's probes (/healthz, /readyz).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3).status != 200)"]
ENTRYPOINT ["aggregator"]
# 0.0.0.0 is refused unless every token group is configured (or --insecure is given).
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
