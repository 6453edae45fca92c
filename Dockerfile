# SERA data backend: the API on port 8000. Configure with SERA_* variables (SERA_DATABASE_URL for PostgreSQL).
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# ODK Validate (used by `sera forms build`) runs on Java.
RUN apt-get update \
    && apt-get install -y --no-install-recommends default-jre-headless \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 sera
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY sera ./sera
COPY catalogue ./catalogue
COPY api ./api
COPY xlsforms ./xlsforms
COPY sync ./sync
COPY analysis ./analysis
COPY migrations ./migrations
RUN pip install . && mkdir -p /app/var && chown sera:sera /app/var

USER sera
ENV SERA_DATABASE_URL=sqlite:////app/var/sera.db
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health')" || exit 1
CMD ["sh", "-c", "sera db upgrade && sera catalogue load && exec uvicorn --factory api.app:create_app --host 0.0.0.0 --port 8000 --proxy-headers"]
