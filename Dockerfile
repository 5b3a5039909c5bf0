# Production image: gunicorn serves the app, WhiteNoise the static files.
# The same image runs the web instances, the Celery workers and beat (docker-compose.yml).
# /app/var/fhir-exports exists owned by ivig so that the shared volume mounted there starts writable.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STATIC_ROOT=/app/staticfiles \
    IVIG_VAR_DIR=/app/var

WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app ivig

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs settings to load; this key exists only for this build step.
RUN PRODUCTION=true SECRET_KEY=collectstatic-build-step-only python manage.py collectstatic --noinput \
    && mkdir -p /app/var/fhir-exports && chown -R ivig /app/var

USER ivig
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request as r; r.urlopen(r.Request('http://127.0.0.1:8000/healthz', headers={'Host': 'localhost'}), timeout=4)"
CMD ["gunicorn", "ivig_clinic.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
