#!/usr/bin/env bash
# Helpers shared by stack.sh and failover.sh; sourced, with $dir set to the stack directory.
set -euo pipefail
# shellcheck disable=SC2154 # $dir is set by the script that sources this file
: "${dir:?stack-lib.sh needs dir, the stack directory}"

stack_load() { # read the ports and the current roles into the environment
    [ -f "$dir/stack.env" ] || { echo "no stack in $dir (deploy/local/stack.sh start $dir)" >&2; exit 1; }
    set -a
    # shellcheck disable=SC1091
    . "$dir/stack.env"
    # shellcheck disable=SC1091
    . "$dir/roles"
    set +a
}

roles_write() { # roles_write WRITER_NODE READER_NODE
    printf 'PHOENIX_WRITER_NODE=%s\nPHOENIX_READER_NODE=%s\n' "$1" "$2" >"$dir/roles.tmp"
    mv "$dir/roles.tmp" "$dir/roles"
}

node_dir() { # db1 is the server cluster.sh started as the writer, db2 the one it started as replica
    case "$1" in
        db1) echo "$dir/cluster/writer" ;;
        db2) echo "$dir/cluster/replica" ;;
        *) echo "unknown node $1 (db1 or db2)" >&2; exit 2 ;;
    esac
}

node_port() {
    case "$1" in
        db1) echo "$PHOENIX_DB1_PORT" ;;
        db2) echo "$PHOENIX_DB2_PORT" ;;
    esac
}

node_sql() { # node_sql NODE STATEMENTS: as root over the server's socket
    local node="$1"; shift
    mariadb --no-defaults --protocol=socket -S "$(node_dir "$node")/mysqld.sock" -uroot \
        --batch --skip-column-names --connect-timeout=2 -e "$*"
}

node_describe() { # one line: port, running or not, writable or read-only, replication state
    local node="$1" state
    if ! state="$(node_sql "$node" "SELECT @@read_only, @@gtid_current_pos" 2>/dev/null)"; then
        echo "127.0.0.1:$(node_port "$node")  stopped"
        return 0
    fi
    local read_only="${state%%$'\t'*}" gtid="${state#*$'\t'}" replication
    replication="$(mariadb --no-defaults --protocol=socket -S "$(node_dir "$node")/mysqld.sock" -uroot --vertical \
        -e "SHOW SLAVE STATUS" | awk '/ (Slave_IO_Running|Slave_SQL_Running|Seconds_Behind_Master):/ { printf "%s %s  ", $1, $2 }')"
    if [ "$read_only" = 0 ]; then read_only="writable"; else read_only="read-only"; fi
    echo "127.0.0.1:$(node_port "$node")  $read_only  gtid $gtid  ${replication:-no replication}"
}

haproxy_cmd() { # haproxy_cmd COMMAND: over the admin socket
    python3 - "$dir/haproxy.sock" "$*" <<'PY'
import socket, sys
with socket.socket(socket.AF_UNIX) as sock:
    sock.settimeout(5)
    sock.connect(sys.argv[1])
    sock.sendall(sys.argv[2].encode() + b"\n")
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
sys.stdout.write(answer.decode())
PY
}
