#!/usr/bin/env bash
# Benchmark the admin shipment change list with 1,000,000 seeded shipments on a local MariaDB
# writer + replica and write the figures into docs/performance.md (section admin-changelist).
#
#   deploy/local/bench-admin.sh [SHIPMENTS] [RUNS]
#
# Uses the cluster in PHOENIX_CLUSTER_DIR when it is running (seeding only what is missing);
# otherwise starts a throw-away one and stops it at the end. Seeding a million shipments takes
# about 10 minutes on 2 cores.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
shipments="${1:-1000000}"
runs="${2:-30}"

cluster_dir="${PHOENIX_CLUSTER_DIR:-}"
started=""
if [ -z "$cluster_dir" ] || [ ! -f "$cluster_dir/env" ]; then
    cluster_dir="$(mktemp -d "${TMPDIR:-/tmp}/phoenix-bench-admin.XXXXXX")"
    started=1
    PHOENIX_BUFFER_POOL="${PHOENIX_BUFFER_POOL:-1G}" "$here/cluster.sh" start "$cluster_dir" >/dev/null
fi
cleanup() { if [ -n "$started" ]; then "$here/cluster.sh" stop "$cluster_dir" || true; fi; }
trap cleanup EXIT INT TERM

set -a
# shellcheck disable=SC1091
. "$cluster_dir/env"
set +a
export DJANGO_DEBUG=0 DJANGO_SECURE_SSL_REDIRECT=0 DJANGO_SECURE_COOKIES=0 DJANGO_ALLOWED_HOSTS=localhost
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-bench-only-secret-key-${RANDOM}${RANDOM}${RANDOM}-not-for-production}"
export PHOENIX_LOG_LEVEL=WARNING

cd "$repo"
.venv/bin/python manage.py migrate --no-input -v0
.venv/bin/python manage.py bench_admin --ensure-shipments "$shipments" --runs "$runs" \
    --write docs/performance.md --command-line "deploy/local/bench-admin.sh $shipments $runs"
