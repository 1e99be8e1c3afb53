# syncd: one process, one HubSpot account, one Mailchimp audience. Secrets come from the environment or
# from files (HUBSPOT_ACCESS_TOKEN_FILE, MAILCHIMP_API_KEY_FILE, e.g. Docker/Kubernetes secrets).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SYNCD_DATABASE_URL=sqlite:////data/syncd.db SYNCD_HTTP_PORT=8080 SYNCD_LOG_FORMAT=json
WORKDIR /app
COPY pyproject.toml README.md ./
COPY syncd ./syncd
COPY connectors ./connectors
COPY sandbox ./sandbox
COPY config ./config
COPY mappings ./mappings
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 --home-dir /app syncd \
 && mkdir -p /data && chown syncd /data
USER syncd
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["syncd-healthcheck"]
ENTRYPOINT ["syncd"]
CMD ["run"]
