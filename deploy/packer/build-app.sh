#!/usr/bin/env bash
# Build the files an installed copy of Phoenix needs besides its sources, in that copy:
#
#   build-app.sh APP_DIR PYTHON
#
# the collected static files (WhiteNoise serves them), the compiled translations (.mo files are
# build output, not in git: without them Spanish, the default language, shows English) and the
# bytecode. Run by provision.sh at bake time; tests/deploy/test_provision.py runs it on a fresh
# copy of the repository and reads a page in Spanish.
set -euo pipefail

app="${1:?usage: build-app.sh APP_DIR PYTHON}"
python="${2:?usage: build-app.sh APP_DIR PYTHON}"
command -v msgfmt >/dev/null || { echo "build-app: msgfmt (gettext) is missing" >&2; exit 1; }

cd "$app"
# Importing the settings needs a secret key; this one exists only for the build.
DJANGO_SECRET_KEY="build-time-only-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export DJANGO_SECRET_KEY
"$python" manage.py collectstatic --no-input -v0
"$python" manage.py compilemessages -v0 --ignore=.venv --ignore=.venv-tools --ignore=node_modules
for catalogue in locale/es/LC_MESSAGES/django.po tracking/locale/es/LC_MESSAGES/django.po; do
    [ -s "${catalogue%.po}.mo" ] || { echo "build-app: ${catalogue%.po}.mo was not compiled" >&2; exit 1; }
done
"$python" -m compileall -q . >/dev/null
