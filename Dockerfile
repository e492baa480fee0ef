# Phoenix container image: the same gunicorn configuration as the AMI (deploy/gunicorn.conf.py).
#   docker build -t phoenix .
#   docker run -e DJANGO_SECRET_KEY=... -e DATABASE_URL=mysql://... -p 8000:8000 phoenix

# Build stage: compilers and headers for mysqlclient, a virtualenv from the pinned requirements.
FROM python:3.12-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
# Debian packages follow the base image's point release (security fixes), so they are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config libmariadb-dev gettext \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/phoenix/venv
COPY requirements.txt /opt/phoenix/app/requirements.txt
RUN /opt/phoenix/venv/bin/pip install -r /opt/phoenix/app/requirements.txt
COPY . /opt/phoenix/app
WORKDIR /opt/phoenix/app
# Static files and translations are built into the image; the key exists only for this step.
RUN DJANGO_SECRET_KEY=collectstatic-at-build-time-only-not-a-secret-0123456789abcdef \
    /opt/phoenix/venv/bin/python manage.py collectstatic --no-input -v0 \
    && DJANGO_SECRET_KEY=compilemessages-at-build-time-only-not-a-secret-0123456789abcdef \
    /opt/phoenix/venv/bin/python manage.py compilemessages -v0 --ignore=.venv --ignore=.venv-tools

# Runtime stage: only the client library, the virtualenv and the application, as a non-root user.
FROM python:3.12-slim-bookworm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/opt/phoenix/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=phoenix.settings PHOENIX_MEDIA_ROOT=/var/lib/phoenix/media PORT=8000
# Not pinned either, for the same reason as in the build stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 phoenix \
    && useradd --system --uid 10001 --gid phoenix --home-dir /var/lib/phoenix --shell /usr/sbin/nologin phoenix \
    && install -d -o phoenix -g phoenix /var/lib/phoenix/media
COPY --from=build /opt/phoenix /opt/phoenix
WORKDIR /opt/phoenix/app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py"]
