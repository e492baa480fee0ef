#!/usr/bin/env bash
# First boot of a Phoenix instance (baked by deploy/packer). The launch template's user data
# (deploy/cloudformation/application.yaml) exports the variables below and runs this file:
#
#   PHOENIX_ENV             environment name; configuration is read from SSM under /phoenix/<env>/
#   PHOENIX_DB_SECRET_ID    Secrets Manager secret of the application's database user (phoenix_app)
#   PHOENIX_DB_MIGRATE_SECRET_ID  the migration user's (phoenix_migrate: DDL), for the migrations
#                           only; unset, the application's user migrates
#   PHOENIX_APP_SECRET_ID   Secrets Manager secret of the Django secret key and its fallbacks
#   PHOENIX_DB_WRITER_HOST  Aurora cluster endpoint       PHOENIX_DB_READER_HOST  reader endpoint
#   PHOENIX_DB_PORT         (3306)                        PHOENIX_DB_NAME         (phoenix)
#   PHOENIX_CFN_STACK       stack to signal               PHOENIX_CFN_RESOURCE    the ASG's logical id
#   PHOENIX_DB_SSL_CA       CA bundle that verifies the database servers (default: the RDS bundle
#                           baked by deploy/packer/provision.sh; an SSM parameter of that name wins;
#                           set but empty, plain connections: only the tests' local servers)
#
# Steps: IMDSv2 token and region, /etc/phoenix/env (0600) from SSM and Secrets Manager through
# deploy/phoenix_env.py, CloudWatch agent, `manage.py check --deploy` (a site URL customers
# cannot follow fails the boot), `manage.py migrate_locked` (both AZ instances boot at
# once; one migrates, the other waits), the services, a local /healthz check, and cfn-signal
# with the outcome so that a rolling update stops on a bad AMI.
set -euo pipefail

# Where things are on the AMI (deploy/packer/provision.sh); tests/deploy/test_userdata.py points
# them into a temporary directory, since this machine has neither EC2 nor systemd as PID 1.
prefix="${PHOENIX_PREFIX:-/opt/phoenix}"
etc="${PHOENIX_ETC:-/etc/phoenix}"
unit_dir="${PHOENIX_UNIT_DIR:-/etc/systemd/system}"
cwagent="${PHOENIX_CWAGENT_DIR:-/opt/aws/amazon-cloudwatch-agent}"
imds="${PHOENIX_IMDS_URL:-http://169.254.169.254}"
health_url="${PHOENIX_HEALTH_URL:-http://127.0.0.1:8000/healthz}"
service_user="${PHOENIX_USER:-phoenix}"
# The RDS CA bundle, at the path provision.sh bakes it to (docs/database.md, TLS).
db_ssl_ca="${PHOENIX_DB_SSL_CA-$prefix/certs/rds-global-bundle.pem}"
export PATH="/opt/aws/bin:$PATH"  # cfn-signal (aws-cfn-bootstrap)

exec > >(tee -a "${PHOENIX_BOOT_LOG:-/var/log/phoenix-userdata.log}") 2>&1

app="$prefix/app"
python="$prefix/venv/bin/python"
: "${PHOENIX_ENV:?}" "${PHOENIX_DB_SECRET_ID:?}" "${PHOENIX_DB_WRITER_HOST:?}"
: "${PHOENIX_CFN_STACK:?}" "${PHOENIX_CFN_RESOURCE:?}"

region=""
signal() { # signal EXIT_CODE: tell CloudFormation whether this instance came up
    cfn-signal --exit-code "$1" --stack "$PHOENIX_CFN_STACK" \
        --resource "$PHOENIX_CFN_RESOURCE" ${region:+--region "$region"} || true
}
# shellcheck disable=SC2317  # called by the ERR trap below, which shellcheck cannot follow
on_error() {
    local status=$?
    echo "userdata: failed (exit $status) at line $1" >&2
    signal 1
    exit "$status"
}
trap 'on_error $LINENO' ERR

echo "==> instance metadata (IMDSv2)"
token="$(curl -fsS --retry 5 -X PUT "$imds/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")"
metadata() { curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/$1"; }
region="$(metadata placement/region)"
instance_id="$(metadata instance-id)"
echo "instance $instance_id in $region, environment $PHOENIX_ENV"

echo "==> configuration from SSM Parameter Store and Secrets Manager"
umask 077
install -d -m 0750 -o root -g "$service_user" "$etc"
# Where to read from; phoenix-env-refresh.service reads the same file every two minutes.
cat >"$etc/source.env" <<EOF
AWS_REGION=$region
PHOENIX_SSM_PATH=/phoenix/$PHOENIX_ENV/
PHOENIX_DB_SECRET_ID=$PHOENIX_DB_SECRET_ID
PHOENIX_DB_MIGRATE_SECRET_ID=${PHOENIX_DB_MIGRATE_SECRET_ID:-}
PHOENIX_APP_SECRET_ID=${PHOENIX_APP_SECRET_ID:-}
PHOENIX_DB_WRITER_HOST=$PHOENIX_DB_WRITER_HOST
PHOENIX_DB_READER_HOST=${PHOENIX_DB_READER_HOST:-}
PHOENIX_DB_PORT=${PHOENIX_DB_PORT:-3306}
PHOENIX_DB_NAME=${PHOENIX_DB_NAME:-phoenix}
PHOENIX_DB_SSL_CA=$db_ssl_ca
EOF
chmod 0600 "$etc/source.env"
set -a
# shellcheck source=/dev/null
. "$etc/source.env"
set +a
# A Parameter Store or Secrets Manager brown-out (throttling, 5xx, a silent endpoint) is retried
# with capped backoff for up to PHOENIX_CONFIG_RETRY_SECONDS (5 min): a rollout survives it, and
# a refusal (access denied, no such secret) still fails at once.
"$python" "$app/deploy/phoenix_env.py" --output "$etc/env" --owner "$service_user" \
    --retry-for "${PHOENIX_CONFIG_RETRY_SECONDS:-300}"
# The migrations' own environment: the same, as the migration user. Removed once they ran.
migrate_env="$etc/env"
if [ -n "${PHOENIX_DB_MIGRATE_SECRET_ID:-}" ]; then
    migrate_env="$etc/migrate.env"
    "$python" "$app/deploy/phoenix_env.py" --output "$migrate_env" --password-file "$etc/migrate-password" \
        --owner "$service_user" --db-secret-variable PHOENIX_DB_MIGRATE_SECRET_ID \
        --retry-for "${PHOENIX_CONFIG_RETRY_SECONDS:-300}"
fi

echo "==> CloudWatch agent"
sed "s/__PHOENIX_ENV__/$PHOENIX_ENV/g" "$cwagent/etc/phoenix.json.template" >"$cwagent/etc/phoenix.json"
"$cwagent/bin/amazon-cloudwatch-agent-ctl" -a fetch-config -m ec2 -s -c "file:$cwagent/etc/phoenix.json"

echo "==> deployment checks"
ca="$(sed -n 's/^PHOENIX_DB_SSL_CA="\(.*\)"$/\1/p' "$etc/env")"
if [ -n "$ca" ] && [ ! -s "$ca" ]; then
    echo "userdata: PHOENIX_DB_SSL_CA=$ca does not exist: TLS to the database cannot be verified (bake the AMI with deploy/packer)" >&2
    false
fi
# manage.py as the service user, with the environment the services get. One subshell at the
# top level, so that a failure reaches the ERR trap (functions do not inherit it).
(
    set -a
    # shellcheck source=/dev/null
    . "$migrate_env"
    set +a
    cd "$app"
    # Errors only (a site URL customers cannot follow, ...): warnings are for the operator.
    runuser -u "$service_user" -- "$python" manage.py check --deploy --fail-level ERROR
    echo "==> database migrations (under the phoenix-migrate lock)"
    # An ALTER TABLE on a large table may run for minutes: the web processes' 10 s read
    # timeout on the writer (phoenix/dburl.py) is not meant for it.
    # A writer failover during the boot (30-60 s without a writable endpoint) fails a migration
    # run: it is retried with backoff, up to PHOENIX_MIGRATE_ATTEMPTS times; the migrations
    # already recorded are skipped. MySQL commits each DDL statement, so a failover in the
    # middle of a migration with several operations can leave it half applied: then every retry
    # fails the same way, the boot signals failure and the rollout stops for an operator. A lock
    # that another instance held for the whole --timeout is not retried either.
    attempts="${PHOENIX_MIGRATE_ATTEMPTS:-5}" delay="${PHOENIX_MIGRATE_RETRY_DELAY:-10}"
    for attempt in $(seq 1 "$attempts"); do
        out="$(mktemp)"
        if runuser -u "$service_user" -- env PHOENIX_DB_READ_TIMEOUT=3600 PHOENIX_DB_WRITE_TIMEOUT=3600 \
            "$python" manage.py migrate_locked --timeout 900 2>&1 | tee "$out"; then
            rm -f "$out"
            break
        fi
        if grep -q "Timed out after .* waiting for the migration lock" "$out" || [ "$attempt" -ge "$attempts" ]; then
            rm -f "$out"
            echo "userdata: migrations failed (attempt $attempt of $attempts)" >&2
            false
        fi
        rm -f "$out"
        echo "userdata: migrations failed (attempt $attempt of $attempts); retrying in $delay s" >&2
        sleep "$delay"
        delay=$((delay * 2))
    done
)
if [ "$migrate_env" != "$etc/env" ]; then rm -f "$migrate_env" "$etc/migrate-password"; fi

echo "==> services"
systemctl daemon-reload
for unit in "$unit_dir"/phoenix*.service "$unit_dir"/phoenix*.timer; do
    name="$(basename "$unit")"
    # The refresh service is a oneshot run by its timer.
    [ "$name" = phoenix-env-refresh.service ] && continue
    systemctl start "$name"
done

echo "==> local health check"
for _ in $(seq 1 60); do
    if curl -fsS -o /dev/null -H "Host: localhost" "$health_url"; then
        echo "healthy; signalling CloudFormation"
        signal 0
        exit 0
    fi
    sleep 2
done
echo "userdata: $health_url did not answer 200 within two minutes" >&2
signal 1
exit 1
