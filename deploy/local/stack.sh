#!/usr/bin/env bash
# The local HA stack: the production shape on real parts, on free loopback ports.
#
#   MariaDB db1 (writer) + db2 (replica)        deploy/local/cluster.sh, GTID replication
#   HAProxy TCP "cluster" endpoint              always the current writer (Aurora cluster endpoint)
#   HAProxy TCP "reader" endpoint               the current replica (Aurora reader endpoint)
#   gunicorn az-a and az-b                      deploy/gunicorn.conf.py, DATABASE_URL -> cluster,
#                                               DATABASE_READER_URL -> reader
#   HAProxy HTTP "alb"                          health-checks /healthz, retries idempotent requests
#                                               on the other instance
#
#   deploy/local/stack.sh start [DIR]           start everything, migrate, seed, create a staff
#                                               user and a partner token, print how to use it
#   deploy/local/stack.sh stop [DIR]            stop everything and remove DIR
#   deploy/local/stack.sh status [DIR]          what runs where, and each node's role
#   deploy/local/stack.sh env [DIR]             the application's environment (for manage.py)
#   deploy/local/stack.sh node-stop db1|db2 [DIR]     stop one database server (a node lost)
#   deploy/local/stack.sh node-start db1|db2 [DIR]    start it again in the role it holds
#   deploy/local/stack.sh app-kill az-a|az-b [DIR]    SIGKILL one gunicorn instance (a zone lost)
#   deploy/local/stack.sh app-start az-a|az-b [DIR]   start it again
#
# PHOENIX_STACK_EXTRA_ENV="NAME=value ..." adds settings to the instances' environment.
# PHOENIX_STACK_TLS=1 runs the databases with TLS from a private CA made for the run; the
# application verifies the servers' identity through the endpoints, as it must against Aurora.
# deploy/local/failover.sh [DIR] swaps the writer and the replica, as an Aurora failover does.
# DIR defaults to $PHOENIX_STACK_DIR or .stack/ in the repository. Every port is picked free at
# start and written to DIR/stack.env, so several stacks (and the test suite) can run side by side.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="$repo/.venv/bin/python"

die() { echo "stack.sh: $*" >&2; exit 1; }
usage() { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

command="${1:-}"
[ -n "$command" ] || usage
shift
case "$command" in
    node-stop | node-start | app-kill | app-start)
        target="${1:-}"
        [ -n "$target" ] || usage
        shift
        ;;
esac
dir="${1:-${PHOENIX_STACK_DIR:-$repo/.stack}}"
mkdir -p "$(dirname "$dir")"
dir="$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")"

# shellcheck source=deploy/local/stack-lib.sh
. "$here/stack-lib.sh"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # wait_http URL SECONDS: until the URL answers 200
    python3 - "$1" "$2" <<'EOF'
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit(1)
EOF
}

db_endpoint() { # db_endpoint NAME PORT NODE: a TCP listener serving NODE; the other node in maintenance
    local name="$1" port="$2" node="$3" db1="disabled" db2="disabled"
    if [ "$node" = db1 ]; then db1=""; else db2=""; fi
    cat <<EOF
listen $name
    mode tcp
    bind 127.0.0.1:$port
    default-server check inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
    server db1 127.0.0.1:$PHOENIX_DB1_PORT $db1
    server db2 127.0.0.1:$PHOENIX_DB2_PORT $db2
EOF
}

write_haproxy_config() {
    # The writer and reader endpoints start with the roles in DIR/roles; failover.sh moves them
    # at run time over the admin socket (and rewrites the roles so a restart keeps them).
    cat >"$dir/haproxy.cfg" <<EOF
global
    stats socket $dir/haproxy.sock mode 600 level admin
    log stdout format raw local0 notice

defaults
    log global
    timeout connect 2s
    timeout client 1h
    timeout server 1h

# Aurora cluster endpoint: the one writable node. The other node is in maintenance; failover.sh
# swaps them. The TCP check only tells a dead server from a live one (a stopped writer then gets
# its clients' connections refused at once instead of after the connect timeout).
$(db_endpoint cluster "$PHOENIX_CLUSTER_PORT" "$PHOENIX_WRITER_NODE")

# Aurora reader endpoint: the replica.
$(db_endpoint reader "$PHOENIX_READER_PORT" "$PHOENIX_READER_NODE")

# The ALB: HTTP, health check on /healthz, idempotent requests retried on the other instance
# when an instance dies under them (connection refused or reset, empty answer). A 503 from the
# application is passed through, never retried: it is the application's answer.
frontend alb
    mode http
    bind 127.0.0.1:$PHOENIX_ALB_PORT
    timeout client 60s
    option forwardfor
    default_backend app

backend app
    mode http
    balance roundrobin
    timeout server 30s
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    retries 3
    retry-on conn-failure empty-response junk-response response-timeout
    # Only idempotent requests are replayed once sent; a POST is retried only when it never
    # reached an instance (connection refused), else its client retries with the same event id.
    http-request disable-l7-retry unless { method GET HEAD OPTIONS }
    option redispatch 1
    default-server check inter 1s fall 2 rise 2
    server az-a 127.0.0.1:$PHOENIX_AZ_A_PORT
    server az-b 127.0.0.1:$PHOENIX_AZ_B_PORT
EOF
}

start_haproxy() {
    haproxy -c -q -f "$dir/haproxy.cfg" || die "haproxy rejected $dir/haproxy.cfg"
    setsid haproxy -db -f "$dir/haproxy.cfg" >>"$dir/haproxy.log" 2>&1 </dev/null &
    echo $! >"$dir/haproxy.pid"
    for _ in $(seq 1 50); do
        [ -S "$dir/haproxy.sock" ] && return 0
        sleep 0.1
    done
    die "haproxy did not start; see $dir/haproxy.log"
}

app_start() { # app_start az-a|az-b
    local name="$1" port
    case "$name" in
        az-a) port="$PHOENIX_AZ_A_PORT" ;;
        az-b) port="$PHOENIX_AZ_B_PORT" ;;
        *) die "unknown instance $name (az-a or az-b)" ;;
    esac
    mkdir -p "$dir/$name"
    local config=()
    if [ -f "$repo/deploy/gunicorn.conf.py" ]; then
        config=(-c "$repo/deploy/gunicorn.conf.py")
    else
        config=(--worker-class gthread phoenix.wsgi:application)
    fi
    # Two cores are shared by both instances, both databases and the load generator.
    (
        cd "$repo"
        set -a
        # shellcheck disable=SC1091
        . "$dir/app.env"
        set +a
        export GUNICORN_BIND="127.0.0.1:$port" GUNICORN_WORKERS="${PHOENIX_STACK_WORKERS:-2}"
        export GUNICORN_THREADS="${PHOENIX_STACK_THREADS:-4}" GUNICORN_PROC_NAME="phoenix-$name"
        export GUNICORN_ACCESS_LOG="" FORWARDED_ALLOW_IPS="127.0.0.1"
        exec setsid "$repo/.venv/bin/gunicorn" "${config[@]}" --bind "127.0.0.1:$port" \
            --workers "$GUNICORN_WORKERS" --threads "$GUNICORN_THREADS" --name "phoenix-$name" \
            --pid "$dir/$name/gunicorn.pid" >>"$dir/$name/gunicorn.log" 2>&1 </dev/null
    ) &
    echo $! >"$dir/$name/pgid"
    wait_http "http://127.0.0.1:$port/healthz" 60 \
        || die "$name did not answer /healthz on port $port; see $dir/$name/gunicorn.log"
}

worker_start() { # the notifications worker (django-tasks db_worker), as phoenix-worker.service runs it
    mkdir -p "$dir/worker"
    (
        cd "$repo"
        set -a
        # shellcheck disable=SC1091
        . "$dir/app.env"
        set +a
        export PHOENIX_EMAIL_BACKEND="${PHOENIX_EMAIL_BACKEND:-console}"
        "$python" manage.py notifications_recover --worker-id stack-worker >>"$dir/worker/worker.log" 2>&1
        exec setsid "$python" manage.py db_worker --worker-id stack-worker --interval 1 --no-reload \
            >>"$dir/worker/worker.log" 2>&1 </dev/null
    ) &
    echo $! >"$dir/worker/pgid"
}

app_kill() { # app_kill az-a|az-b|worker [SIGNAL]: the whole process group, master and workers
    local name="$1" signal="${2:-KILL}" pgid
    [ -f "$dir/$name/pgid" ] || return 0
    pgid="$(cat "$dir/$name/pgid")"
    kill "-$signal" -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 150); do
        kill -0 -- "-$pgid" 2>/dev/null || { rm -f "$dir/$name/pgid"; return 0; }
        sleep 0.2
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
    rm -f "$dir/$name/pgid"
}

manage() {
    (
        cd "$repo"
        set -a
        # shellcheck disable=SC1091
        . "$dir/app.env"
        set +a
        "$python" manage.py "$@"
    )
}

do_start() {
    [ -x "$python" ] || die "no virtualenv: run make deps (make stack does it)"
    command -v haproxy >/dev/null || die "haproxy is not installed: deploy/local/bootstrap.sh stack"
    if [ -f "$dir/stack.env" ]; then
        die "a stack already runs in $dir (deploy/local/stack.sh status|stop $dir)"
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 700 "$dir"
    trap 'echo "stack.sh: start failed; stopping what started" >&2; do_stop' ERR

    PHOENIX_CLUSTER_TLS="${PHOENIX_STACK_TLS:-0}" PHOENIX_BUFFER_POOL="${PHOENIX_BUFFER_POOL:-128M}" \
        "$here/cluster.sh" start "$dir/cluster" >/dev/null
    local db1_port db2_port
    db1_port="$(cat "$dir/cluster/writer/port")"
    db2_port="$(cat "$dir/cluster/replica/port")"
    # Keep each server's command line: node-start restarts it exactly as cluster.sh started it.
    for node in db1:writer db2:replica; do
        cp "/proc/$(cat "$dir/cluster/${node#*:}/mysqld.pid")/cmdline" "$dir/${node%%:*}.cmdline"
    done

    cat >"$dir/stack.env" <<EOF
PHOENIX_STACK_DIR=$dir
PHOENIX_ALB_PORT=$(free_port)
PHOENIX_CLUSTER_PORT=$(free_port)
PHOENIX_READER_PORT=$(free_port)
PHOENIX_AZ_A_PORT=$(free_port)
PHOENIX_AZ_B_PORT=$(free_port)
PHOENIX_DB1_PORT=$db1_port
PHOENIX_DB2_PORT=$db2_port
PHOENIX_DB1_SOCKET=$dir/cluster/writer/mysqld.sock
PHOENIX_DB2_SOCKET=$dir/cluster/replica/mysqld.sock
EOF
    roles_write db1 db2
    stack_load

    local secret
    secret="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
    cat >"$dir/app.env" <<EOF
DATABASE_URL=mysql://phoenix:phoenix-local@127.0.0.1:$PHOENIX_CLUSTER_PORT/phoenix
DATABASE_READER_URL=mysql://phoenix:phoenix-local@127.0.0.1:$PHOENIX_READER_PORT/phoenix
DJANGO_SECRET_KEY=$secret
DJANGO_DEBUG=0
DJANGO_SECURE_SSL_REDIRECT=0
DJANGO_SECURE_COOKIES=0
DJANGO_HSTS_SECONDS=0
PHOENIX_MEDIA_ROOT=$dir/media
PHOENIX_ADMIN_OTP=enrolled
EOF
    # PHOENIX_ADMIN_OTP=enrolled: the lab's superuser has no authenticator, so the admin asks a
    # second factor only of staff who have one (production: superusers must; phoenix/staffotp.py).
    if [ -f "$dir/cluster/tls/ca.pem" ]; then echo "PHOENIX_DB_SSL_CA=$dir/cluster/tls/ca.pem" >>"$dir/app.env"; fi
    # Extra settings for the instances, e.g. the drills lift the per-IP lookup budget (their load
    # comes from one address, as if the WAF allow-listed the load generator).
    local extra
    for extra in ${PHOENIX_STACK_EXTRA_ENV:-}; do echo "$extra" >>"$dir/app.env"; done
    chmod 600 "$dir/app.env"

    write_haproxy_config
    start_haproxy

    manage migrate --no-input -v0
    manage collectstatic --no-input -v0
    manage seed_demo --shipments "${PHOENIX_STACK_SHIPMENTS:-300}" --seed 8 --quiet >"$dir/seed.txt"
    local password
    password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
    DJANGO_SUPERUSER_PASSWORD="$password" manage createsuperuser --no-input --username admin \
        --email admin@example.invalid >/dev/null
    printf 'PHOENIX_ADMIN_USER=admin\nPHOENIX_ADMIN_PASSWORD=%s\n' "$password" >"$dir/credentials"
    chmod 600 "$dir/credentials"
    if manage help create_partner >/dev/null 2>&1; then
        manage create_partner "Stack demo partner" >"$dir/partner.txt"
    else
        echo "(manage.py create_partner is not there yet: no partner token)" >"$dir/partner.txt"
    fi

    app_start az-a
    app_start az-b
    worker_start
    wait_http "http://127.0.0.1:$PHOENIX_ALB_PORT/healthz" 30 || die "the ALB does not answer; see $dir/haproxy.log"
    trap - ERR

    echo "Phoenix HA stack is up in $dir"
    echo
    echo "  URL (the ALB):        http://127.0.0.1:$PHOENIX_ALB_PORT/"
    echo "  admin:                http://127.0.0.1:$PHOENIX_ALB_PORT/admin/  user admin  password $password"
    echo "  partner token:"
    sed 's/^/      /' "$dir/partner.txt"
    echo "  tracking numbers:"
    sed -n '2,6p' "$dir/seed.txt"
    echo
    echo "  instances:            az-a :$PHOENIX_AZ_A_PORT   az-b :$PHOENIX_AZ_B_PORT"
    echo "  cluster endpoint:     127.0.0.1:$PHOENIX_CLUSTER_PORT   reader endpoint: 127.0.0.1:$PHOENIX_READER_PORT"
    echo "  notifications worker: $dir/worker/worker.log (e-mails print there)"
    echo "  failover:             deploy/local/failover.sh $dir"
    echo "  status:               deploy/local/stack.sh status $dir"
    echo "  stop:                 make stack-stop   (or deploy/local/stack.sh stop $dir)"
}

do_stop() {
    [ -d "$dir" ] || return 0
    # The front first: its keep-alive connections would hold gunicorn's graceful stop.
    if [ -f "$dir/haproxy.pid" ]; then
        local pid
        pid="$(cat "$dir/haproxy.pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    app_kill worker TERM
    app_kill az-a TERM
    app_kill az-b TERM
    "$here/cluster.sh" stop "$dir/cluster"
    rm -rf "$dir"
}

do_status() {
    [ -f "$dir/stack.env" ] || die "no stack in $dir"
    stack_load
    echo "stack in $dir"
    echo "  ALB          http://127.0.0.1:$PHOENIX_ALB_PORT/"
    for name in az-a az-b; do
        if [ -f "$dir/$name/pgid" ] && kill -0 -- "-$(cat "$dir/$name/pgid")" 2>/dev/null; then
            echo "  $name         running (process group $(cat "$dir/$name/pgid"))"
        else
            echo "  $name         stopped"
        fi
    done
    for node in db1 db2; do
        echo "  $node          $(node_describe "$node")"
    done
    echo "  writer node  $PHOENIX_WRITER_NODE  (cluster endpoint 127.0.0.1:$PHOENIX_CLUSTER_PORT)"
    echo "  reader node  $PHOENIX_READER_NODE  (reader endpoint 127.0.0.1:$PHOENIX_READER_PORT)"
    echo "  HAProxy:"
    haproxy_cmd "show stat" | awk -F, '$2 !~ /^(FRONTEND|BACKEND|svname)$/ && NF > 20 { printf "    %-8s %-6s %s\n", $1, $2, $18 }'
}

node_start() { # node_start db1|db2: the same command line, read-only unless it is the writer
    local node="$1" args=() arg
    [ -f "$dir/$node.cmdline" ] || die "unknown node $node"
    node_sql "$node" "SELECT 1" >/dev/null 2>&1 && { echo "$node is already running" >&2; return 0; }
    while IFS= read -r -d '' arg; do
        case "$arg" in --read-only*) ;; *) args+=("$arg") ;; esac
    done <"$dir/$node.cmdline"
    [ "$PHOENIX_WRITER_NODE" = "$node" ] || args+=(--read-only=1)
    setsid "${args[@]}" >/dev/null 2>&1 </dev/null &
    for _ in $(seq 1 150); do
        node_sql "$node" "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "$node did not start again"
}

node_stop() { # node_stop db1|db2: a clean shutdown, as when a node is lost and its storage kept
    local node="$1" pid
    pid="$(cat "$(node_dir "$node")/mysqld.pid" 2>/dev/null)" || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
}

case "$command" in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    env) [ -f "$dir/app.env" ] || die "no stack in $dir"; cat "$dir/app.env" ;;
    node-stop) stack_load; node_stop "$target" ;;
    node-start) stack_load; node_start "$target" ;;
    app-kill) stack_load; app_kill "$target" KILL ;;
    app-start) stack_load; app_start "$target" ;;
    *) usage ;;
esac
