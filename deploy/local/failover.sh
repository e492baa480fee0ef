#!/usr/bin/env bash
# Fail the local stack's writer over to its replica, as an Aurora failover does; run it again to
# fail back.
#
#   deploy/local/failover.sh [DIR]
#
# 1. fence the old writer: take it out of the cluster endpoint, cut the sessions open through
#    it, and make it read-only, so that nothing commits there any more;
# 2. promote the replica once it has applied everything the old writer committed:
#    STOP SLAVE, RESET SLAVE ALL, read_only=0;
# 3. move the cluster endpoint to the new writer (clients reconnect and write there);
# 4. demote the old writer to a replica of the new one (MASTER_USE_GTID=slave_pos) and move the
#    reader endpoint to it.
#
# It prints the epoch time at which the cluster endpoint moved (moved_at=...) for the drills.
# DIR defaults to $PHOENIX_STACK_DIR or .stack/ in the repository.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="${1:-${PHOENIX_STACK_DIR:-$repo/.stack}}"
repl_password="repl-local"

# shellcheck source=deploy/local/stack-lib.sh
. "$here/stack-lib.sh"
stack_load

die() { echo "failover.sh: $*" >&2; exit 1; }
now() { python3 -c 'import time; print(f"{time.time():.3f}")'; }

old="$PHOENIX_WRITER_NODE"
new="$PHOENIX_READER_NODE"
node_sql "$new" "SELECT 1" >/dev/null 2>&1 || die "the replica $new is not running: nothing to promote"
node_sql "$old" "SELECT 1" >/dev/null 2>&1 || die "the writer $old is not running (this script needs both nodes)"
started_at="$(now)"

# 1. Fence the old writer.
haproxy_cmd "set server cluster/$old state maint; shutdown sessions server cluster/$old" >/dev/null
node_sql "$old" "SET GLOBAL read_only = 1"
position="$(node_sql "$old" "SELECT @@gtid_binlog_pos")"

# 2. Promote the replica once it holds every transaction the old writer committed.
waited="$(node_sql "$new" "SELECT MASTER_GTID_WAIT('$position', 30)")"
[ "$waited" = 0 ] || {
    # Give the endpoint back to the old writer rather than lose acknowledged writes.
    node_sql "$old" "SET GLOBAL read_only = 0"
    haproxy_cmd "set server cluster/$old state ready" >/dev/null
    die "the replica did not reach $position within 30 s; failover abandoned, $old stays the writer"
}
node_sql "$new" "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0"

# 3. Move the cluster endpoint.
haproxy_cmd "set server cluster/$new state ready" >/dev/null
moved_at="$(now)"
roles_write "$new" "$old"

# 4. Demote the old writer to a replica of the new one and point the reader endpoint at it.
# A stack with TLS (cluster.sh made a CA) replicates over TLS too, the server's name verified.
tls=""
if [ -f "$dir/cluster/tls/ca.pem" ]; then
    tls=", MASTER_SSL=1, MASTER_SSL_CA='$dir/cluster/tls/ca.pem', MASTER_SSL_VERIFY_SERVER_CERT=1"
fi
node_sql "$old" "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos;
    CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$(node_port "$new"), MASTER_USER='repl',
        MASTER_PASSWORD='$repl_password', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1$tls;
    START SLAVE"
haproxy_cmd "set server reader/$old state ready" >/dev/null
haproxy_cmd "set server reader/$new state maint; shutdown sessions server reader/$new" >/dev/null

echo "failover: writer $old -> $new at position $position; the reader endpoint now serves $old"
echo "started_at=$started_at moved_at=$moved_at finished_at=$(now)"
