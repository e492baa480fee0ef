#!/usr/bin/env bash
# Start a throw-away MariaDB writer + replica, run the whole pytest suite against them, and
# stop them again whatever happens. Extra arguments go to pytest.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cluster_dir="$(mktemp -d "${TMPDIR:-/tmp}/phoenix-test-cluster.XXXXXX")"

cleanup() { "$here/cluster.sh" stop "$cluster_dir" || true; }
trap cleanup EXIT INT TERM

"$here/cluster.sh" start "$cluster_dir" >/dev/null
set -a
# shellcheck disable=SC1091
. "$cluster_dir/env"
set +a
export DJANGO_SECRET_KEY="test-only-secret-key-${RANDOM}${RANDOM}${RANDOM}-not-for-production"
export DJANGO_DEBUG=0 DJANGO_SECURE_SSL_REDIRECT=0 DJANGO_SECURE_COOKIES=0

cd "$repo"
# The Spanish pages need compiled messages (.mo files are build output, not committed).
.venv/bin/python manage.py compilemessages -v0 --ignore=.venv --ignore=node_modules
.venv/bin/python -m pytest "$@"
