# syncd's image: the daemon (`syncd run`) and every other syncd command, the sandbox included (the compose
# demo runs it). Secrets come from the environment or from files (HUBSPOT_ACCESS_TOKEN_FILE,
# MAILCHIMP_API_KEY_FILE, SYNCD_STATUS_TOKEN_FILE: Docker or Kubernetes secrets). The admin's files are
# read from the working directory, /app: config/syncd.yaml, config/scoring.yaml, mappings/default.yaml (the
# shipped ones are here; mount your own over /app/config and /app/mappings). README: "Deploying as a container".
# The Python version is the one requirements.lock is resolved for (`make lock`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SYNCD_DATABASE_URL=sqlite:////data/syncd.db SYNCD_HTTP_HOST=0.0.0.0 SYNCD_HTTP_PORT=8080 SYNCD_LOG_FORMAT=json

# Every dependency, exactly as locked and checked against its hashes; this layer changes only with the lock.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock && rm /tmp/requirements.lock

# syncd itself, with nothing more: its dependencies are all in (and its build backend, setuptools, is locked).
COPY pyproject.toml README.md /src/
COPY contracts /src/contracts
COPY connectors /src/connectors
COPY sandbox /src/sandbox
COPY syncd /src/syncd
COPY config /src/config
COPY mappings /src/mappings
RUN pip install --no-cache-dir --no-deps --no-build-isolation /src && rm -rf /src \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin syncd \
 && mkdir -p /data && chown syncd /data

WORKDIR /app
COPY config ./config
COPY mappings ./mappings
USER syncd
VOLUME /data
EXPOSE 8080
# SIGTERM: syncd drains the outbox for at most drain_s (8 s by default), releases its leases and exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["syncd-healthcheck"]
ENTRYPOINT ["syncd"]
CMD ["run"]
