#!/usr/bin/env bash
# Install the system packages a profile needs, from Debian's archive, when they are missing.
#
#   deploy/local/bootstrap.sh run    build headers for mysqlclient, gettext
#   deploy/local/bootstrap.sh stack  the run profile plus MariaDB, HAProxy, iptables, iproute2 (make stack, make drills)
#   deploy/local/bootstrap.sh test   the above plus MariaDB, HAProxy, Chromium and the linters
#
# As root it runs apt-get; otherwise it prints the one command to run and fails.
set -euo pipefail

profile="${1:-run}"

# command-or-file-that-proves-it-is-there:package
run_needs=(
    "pkg-config:pkg-config"
    "/usr/include/mariadb/mysql.h:libmariadb-dev"
    "gcc:build-essential"
    "msgfmt:gettext"
)
test_needs=(
    "mariadbd:mariadb-server"
    "mariadb:mariadb-client"
    "haproxy:haproxy"
    "chromium:chromium"
    "shellcheck:shellcheck"
    "packer:packer"
    "systemd-analyze:systemd"
    "wrk:wrk"
    "node:nodejs"
    "npm:npm"
    "valgrind:valgrind"
    "openssl:openssl"
    "/usr/sbin/iptables:iptables"
    "/usr/sbin/ip:iproute2"
)

stack_needs=(
    "mariadbd:mariadb-server"
    "mariadb:mariadb-client"
    "haproxy:haproxy"
    # The slow-and-silent drills: a network namespace of their own and iptables inside it.
    "/usr/sbin/iptables:iptables"
    "/usr/sbin/ip:iproute2"
)

needs=("${run_needs[@]}")
[ "$profile" = "stack" ] && needs+=("${stack_needs[@]}")
[ "$profile" = "test" ] && needs+=("${test_needs[@]}")

missing=()
for need in "${needs[@]}"; do
    probe="${need%%:*}"
    package="${need##*:}"
    case "$probe" in
        /*) [ -e "$probe" ] && continue ;;
        *) command -v "$probe" >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$package")
done

# Debian's python3 needs python3-venv for `python3 -m venv`; other builds carry it.
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=("python3-venv")

[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "Missing system packages: ${missing[*]}" >&2
    echo "Run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "Installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
