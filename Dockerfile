# syntax=docker/dockerfile:1
# Kronos: one image for every process. `web` (gunicorn), `worker`, `beat` and `migrate` are
# the entrypoint's commands (deploy/entrypoint.sh). deploy/build.sh runs these same steps on a
# machine without Docker (`make build-check`).

# --- build: dependencies and static files ------------------------------------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install --upgrade pip \
    && pip install -r /tmp/requirements.txt
WORKDIR /app
COPY . .
# Hashed, compressed static files; the key is only for this step (settings need one to load).
RUN SECRET_KEY=collectstatic-only-not-a-secret \
    STATICFILES_STORAGE=whitenoise.storage.CompressedManifestStaticFilesStorage \
    STATIC_ROOT=/app/staticfiles \
    python manage.py collectstatic --noinput \
    && python -m compileall -q accounts portfolios trading compliance kronos

# --- runtime: no compilers, no pip cache, a user without a shell or rights -----------------------
FROM python:3.11-slim AS runtime
# Pango for WeasyPrint (signed agreements as PDF).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 kronos \
    && useradd --system --uid 10001 --gid kronos --home-dir /app --shell /usr/sbin/nologin kronos
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=kronos.settings \
    STATICFILES_STORAGE=whitenoise.storage.CompressedManifestStaticFilesStorage \
    STATIC_ROOT=/app/staticfiles \
    WHITENOISE_USE_FINDERS=false \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    PORT=8000
WORKDIR /app
USER kronos
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/healthcheck.py", "web"]
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
