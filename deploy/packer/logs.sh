#!/usr/bin/env bash
# Make Phoenix's log files readable by the CloudWatch agent's user, and prove it:
#
#   logs.sh AGENT_CONFIG            set up the log directory, then check (provision.sh, as root)
#   logs.sh --check AGENT_CONFIG    only check
#
# systemd opens each unit's log file as root (StandardOutput=append:, with the unit's UMask),
# and the agent runs as its own user (agent.run_as_user in AGENT_CONFIG). The directory is owned
# by root and the agent's group, setgid, so that every file created in it, now or later (a file
# deleted by hand, a new unit), belongs to that group; the units' UMask keeps group read.
# PHOENIX_LOG_DIR (default /var/log/phoenix) moves the directory for tests/deploy/test_provision.py.
set -euo pipefail

check_only=""
if [ "${1:-}" = --check ]; then
    check_only=1
    shift
fi
config="${1:?usage: logs.sh [--check] AGENT_CONFIG}"
log_dir="${PHOENIX_LOG_DIR:-/var/log/phoenix}"

# The agent's user and the files it ships from this directory, as the agent reads them.
read_config() {
    python3 - "$config" "$log_dir" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
print(config["agent"].get("run_as_user", "root"))
for entry in config["logs"]["logs_collected"]["files"]["collect_list"]:
    path = entry["file_path"]
    if path.startswith("/var/log/phoenix/"):
        print(sys.argv[2] + "/" + path.removeprefix("/var/log/phoenix/"))
PY
}
listing="$(read_config)"  # a broken configuration stops here, with Python's message
mapfile -t lines <<<"$listing"
agent="${lines[0]}"
files=("${lines[@]:1}")
id "$agent" >/dev/null 2>&1 || { echo "logs: the agent's user $agent does not exist" >&2; exit 1; }
group="$(id -gn "$agent")"

if [ -z "$check_only" ]; then
    install -d -m 2750 -o root -g "$group" "$log_dir"
    chown root:"$group" "$log_dir"
    chmod 2750 "$log_dir"
    for file in "${files[@]}"; do
        [ -e "$file" ] || install -m 0640 -o root -g "$group" /dev/null "$file"
        chgrp "$group" "$file"
        chmod g+r "$file"
    done
fi

failed=0
for file in "${files[@]}"; do
    if ! runuser -u "$agent" -- test -r "$file"; then
        echo "logs: $agent cannot read $file: the CloudWatch agent would ship nothing from it" >&2
        failed=1
    fi
done
# A file that systemd creates later (root, the web unit's UMask 0027) must be readable too.
probe="$log_dir/.agent-read-probe.log"
(umask 0027 && : >"$probe")
if ! runuser -u "$agent" -- test -r "$probe"; then
    echo "logs: $agent cannot read a new file in $log_dir (it must be setgid, group $group)" >&2
    failed=1
fi
rm -f "$probe"
[ "$failed" = 0 ] || exit 1
echo "logs: $agent can read ${files[*]}"
