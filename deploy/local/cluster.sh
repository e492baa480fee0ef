#!/usr/bin/env bash
# A throw-away MariaDB writer + replica with GTID binlog replication, standing in for the
# Aurora writer and reader.
#
#   deploy/local/cluster.sh start [DIR]   start both servers on free ports, wait for replication,
#                                         write DIR/env and print DATABASE_URL / DATABASE_READER_URL
#   deploy/local/cluster.sh stop [DIR]    stop both servers and remove DIR
#   deploy/local/cluster.sh env [DIR]     print the variables again
#
# DIR defaults to .cluster/ in the repository. The application user `phoenix` has no SUPER
# (nor READ_ONLY ADMIN), so the replica's read_only really refuses its writes.
#
# PHOENIX_CLUSTER_TLS=1 makes it speak TLS as Aurora does: a private CA made for this run signs
# one certificate for 127.0.0.1 and localhost, both servers require TLS of the application user
# (and of replication), and DIR/env carries PHOENIX_DB_SSL_CA, with which the application
# verifies the server's identity (docs/stack.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
command="${1:-}"
dir="${2:-${PHOENIX_CLUSTER_DIR:-$repo/.cluster}}"
app_password="phoenix-local"
repl_password="repl-local"
database="${PHOENIX_DB_NAME:-phoenix}"

die() { echo "cluster.sh: $*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

tls_make() { # a private CA and one server certificate for 127.0.0.1 and localhost, in DIR/tls
    local tls="$dir/tls"
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Phoenix local CA $(date +%s)" \
        -keyout "$tls/ca-key.pem" -out "$tls/ca.pem" >"$tls/openssl.log" 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$tls/server-key.pem" -out "$tls/server.csr" >>"$tls/openssl.log" 2>&1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca-key.pem" -CAcreateserial \
        -days 2 -extfile "$tls/server.ext" -out "$tls/server.pem" >>"$tls/openssl.log" 2>&1
    chmod 600 "$tls/ca-key.pem" "$tls/server-key.pem"
}

tls_options() { # the server options for TLS, one a line, or nothing
    [ "${PHOENIX_CLUSTER_TLS:-0}" = 1 ] || return 0
    printf '%s\n' "--ssl-ca=$dir/tls/ca.pem" "--ssl-cert=$dir/tls/server.pem" "--ssl-key=$dir/tls/server-key.pem"
}

sql() { # sql NODE STATEMENTS...
    local node="$1"; shift
    mariadb --no-defaults --protocol=socket -S "$dir/$node/mysqld.sock" -uroot --batch --skip-column-names -e "$*"
}

start_node() { # start_node NODE SERVER_ID PORT EXTRA_OPTIONS...
    local node="$1" server_id="$2" port="$3" tls=(); shift 3
    mapfile -t tls < <(tls_options)
    mkdir -p "$dir/$node"
    # mariadb-install-db has failed now and then when several clusters started at once (cause
    # not pinned down; a second try has always worked): a fresh data directory and another try.
    local attempt
    for attempt in 1 2 3; do
        rm -rf "$dir/$node/data"
        mariadb-install-db --no-defaults --datadir="$dir/$node/data" --user="$(id -un)" \
            --auth-root-authentication-method=normal --skip-test-db >"$dir/$node/install.log" 2>&1 && break
        [ "$attempt" -lt 3 ] || die "mariadb-install-db failed for $node; see $dir/$node/install.log"
        sleep 1
    done
    # Durability is relaxed (flush at commit off): this cluster is for tests and is thrown away.
    mariadbd --no-defaults --user="$(id -un)" --datadir="$dir/$node/data" \
        --socket="$dir/$node/mysqld.sock" --pid-file="$dir/$node/mysqld.pid" \
        --port="$port" --bind-address=127.0.0.1 --skip-name-resolve \
        --server-id="$server_id" --log-bin=binlog --log-slave-updates --binlog-format=ROW \
        --gtid-strict-mode=1 --relay-log=relay --log-basename="$node" \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --innodb-buffer-pool-size="${PHOENIX_BUFFER_POOL:-512M}" --innodb-flush-log-at-trx-commit=2 \
        --sync-binlog=0 --max-connections=400 --skip-log-error --log-error="$dir/$node/error.log" \
        "${tls[@]}" "$@" >/dev/null 2>&1 &
    echo $! >"$dir/$node/launcher.pid"
    for _ in $(seq 1 150); do
        if sql "$node" "SELECT 1" >/dev/null 2>&1; then echo "$port" >"$dir/$node/port"; return 0; fi
        kill -0 "$(cat "$dir/$node/launcher.pid")" 2>/dev/null || die "$node did not start; see $dir/$node/error.log"
        sleep 0.2
    done
    die "$node did not answer within 30 s; see $dir/$node/error.log"
}

write_env() {
    local writer_port replica_port
    writer_port="$(cat "$dir/writer/port")"
    replica_port="$(cat "$dir/replica/port")"
    cat >"$dir/env" <<EOF
DATABASE_URL=mysql://phoenix:$app_password@127.0.0.1:$writer_port/$database
DATABASE_READER_URL=mysql://phoenix:$app_password@127.0.0.1:$replica_port/$database
PHOENIX_WRITER_PORT=$writer_port
PHOENIX_REPLICA_PORT=$replica_port
PHOENIX_WRITER_SOCKET=$dir/writer/mysqld.sock
PHOENIX_REPLICA_SOCKET=$dir/replica/mysqld.sock
PHOENIX_CLUSTER_DIR=$dir
EOF
    if [ "${PHOENIX_CLUSTER_TLS:-0}" = 1 ]; then echo "PHOENIX_DB_SSL_CA=$dir/tls/ca.pem" >>"$dir/env"; fi
}

do_start() {
    command -v mariadbd >/dev/null || die "mariadbd is not installed: apt-get install mariadb-server"
    if [ -f "$dir/env" ] && sql writer "SELECT 1" >/dev/null 2>&1; then
        echo "cluster already running in $dir" >&2
        cat "$dir/env"
        return 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    local writer_port replica_port require="" master_tls=""
    if [ "${PHOENIX_CLUSTER_TLS:-0}" = 1 ]; then
        command -v openssl >/dev/null || die "openssl is not installed: apt-get install openssl"
        tls_make
        require="REQUIRE SSL"
        master_tls=", MASTER_SSL=1, MASTER_SSL_CA='$dir/tls/ca.pem', MASTER_SSL_VERIFY_SERVER_CERT=1"
    fi
    writer_port="$(free_port)"
    start_node writer 1 "$writer_port"
    replica_port="$(free_port)"
    start_node replica 2 "$replica_port" --read-only=1

    # Everything below is written on the writer and reaches the replica through replication,
    # users included, so both servers know the application user.
    sql writer "RESET MASTER;
        CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY '$repl_password' $require;
        GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';
        CREATE USER 'phoenix'@'%' IDENTIFIED BY '$app_password' $require;
        GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES,
              CREATE TEMPORARY TABLES, LOCK TABLES, CREATE VIEW, SHOW VIEW, EXECUTE,
              PROCESS, SLAVE MONITOR, BINLOG MONITOR ON *.* TO 'phoenix'@'%';
        CREATE DATABASE \`$database\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    sql replica "RESET MASTER;
        CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$writer_port, MASTER_USER='repl',
            MASTER_PASSWORD='$repl_password', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1$master_tls;
        START SLAVE;"
    for _ in $(seq 1 150); do
        if [ "$(sql replica "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='$database'")" = "1" ]; then
            write_env
            echo "writer  127.0.0.1:$writer_port   replica 127.0.0.1:$replica_port   (data in $dir)" >&2
            cat "$dir/env"
            return 0
        fi
        sleep 0.2
    done
    sql replica "SHOW SLAVE STATUS\G" >&2 || true
    die "replication did not start within 30 s"
}

stop_node() {
    local node="$1" pid=""
    [ -f "$dir/$node/mysqld.pid" ] && pid="$(cat "$dir/$node/mysqld.pid")"
    [ -z "$pid" ] && [ -f "$dir/$node/launcher.pid" ] && pid="$(cat "$dir/$node/launcher.pid")"
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
}

do_stop() {
    [ -d "$dir" ] || return 0
    stop_node replica
    stop_node writer
    rm -rf "$dir"
}

case "$command" in
    start) do_start ;;
    stop) do_stop ;;
    env) [ -f "$dir/env" ] || die "no cluster in $dir"; cat "$dir/env" ;;
    *) echo "usage: $0 start|stop|env [DIR]" >&2; exit 2 ;;
esac
