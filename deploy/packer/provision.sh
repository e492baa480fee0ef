#!/usr/bin/env bash
# Provision the Phoenix AMI on the Packer builder (Amazon Linux 2023), as root.
#
#   PHOENIX_ARCHIVE=/tmp/phoenix.tar.gz PHOENIX_VERSION=abc123 provision.sh
#
# Installs python3.12 and the build headers, gettext, the CloudWatch agent and aws-cfn-bootstrap,
# a virtualenv from the pinned requirements, the collected static files and compiled
# translations (build-app.sh), the RDS CA bundle, every systemd unit in deploy/systemd/ (enabled,
# but held back by a condition until deploy/userdata.sh has written /etc/phoenix/env), the log
# files readable by the CloudWatch agent (logs.sh, which checks it), and the agent's
# configuration. Nothing secret is baked in.
set -euo pipefail

archive="${PHOENIX_ARCHIVE:?set PHOENIX_ARCHIVE to the repository tarball}"
version="${PHOENIX_VERSION:-dev}"
prefix=/opt/phoenix
app="$prefix/app"
venv="$prefix/venv"
# The RDS CA bundle (every region's roots), at the path deploy/userdata.sh gives
# PHOENIX_DB_SSL_CA by default: the system bundle does not carry the RDS roots, and
# phoenix/dburl.py verifies the server's identity.
rds_ca_url="https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
rds_ca="$prefix/certs/rds-global-bundle.pem"

echo "==> system packages"
dnf -y -q upgrade --refresh
dnf -y -q install python3.12 python3.12-devel gcc pkgconf-pkg-config mariadb-connector-c-devel \
    gettext amazon-cloudwatch-agent aws-cfn-bootstrap logrotate tar gzip
dnf clean all

echo "==> service user and directories"
id phoenix >/dev/null 2>&1 || useradd --system --home-dir /var/lib/phoenix --shell /sbin/nologin phoenix
install -d -m 0755 "$prefix" "$app"
install -d -m 0750 -o root -g phoenix /etc/phoenix
install -d -m 0750 -o phoenix -g phoenix /var/lib/phoenix /var/lib/phoenix/media
# The agent's package creates its user; make sure, since the log check below needs it.
id cwagent >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin cwagent

echo "==> RDS CA bundle"
install -d -m 0755 "$prefix/certs"
curl -fsS --retry 5 --proto '=https' -o "$rds_ca.tmp" "$rds_ca_url"
if ! grep -q -- '-----BEGIN CERTIFICATE-----' "$rds_ca.tmp"; then
    echo "provision: $rds_ca_url did not return a PEM bundle" >&2
    exit 1
fi
install -m 0644 -o root -g root "$rds_ca.tmp" "$rds_ca"
rm -f "$rds_ca.tmp"

echo "==> application $version"
tar -xzf "$archive" -C "$app"
rm -f "$archive"
echo "$version" >"$app/VERSION"
python3.12 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet --no-cache-dir -r "$app/requirements.txt"
# Static files, compiled translations (Spanish is the default language), bytecode.
bash "$app/deploy/packer/build-app.sh" "$app" "$venv/bin/python"
chown -R root:root "$app" "$venv"
chmod -R go-w "$app" "$venv"

echo "==> systemd units"
shopt -s nullglob
for unit in "$app"/deploy/systemd/*.service "$app"/deploy/systemd/*.timer; do
    name="$(basename "$unit")"
    install -m 0644 "$unit" "/etc/systemd/system/$name"
    if [[ "$name" == *.service ]]; then
        # Enabled at bake time, started for real once the first boot has configured it; its
        # output goes to a file that the CloudWatch agent ships and logrotate rotates.
        install -d "/etc/systemd/system/$name.d"
        printf '[Unit]\nConditionPathExists=/etc/phoenix/env\n' >"/etc/systemd/system/$name.d/10-configured.conf"
        printf '[Service]\nStandardOutput=append:/var/log/phoenix/%s.log\nStandardError=inherit\n' "${name%.service}" \
            >"/etc/systemd/system/$name.d/20-log-file.conf"
    fi
done
systemctl daemon-reload
for unit in "$app"/deploy/systemd/*.service "$app"/deploy/systemd/*.timer; do
    if grep -q '^\[Install\]' "$unit"; then
        systemctl enable "$(basename "$unit")"
    fi
done
shopt -u nullglob

echo "==> logs: files for the CloudWatch agent (which must be able to read them), rotated by logrotate"
bash "$app/deploy/packer/logs.sh" "$app/deploy/cloudwatch-agent.json"
cat >/etc/logrotate.d/phoenix <<'EOF'
/var/log/phoenix/*.log {
    daily
    rotate 7
    compress
    missingok
    notifempty
    copytruncate
}
EOF
# userdata.sh replaces __PHOENIX_ENV__ with the environment name and starts the agent.
install -m 0644 "$app/deploy/cloudwatch-agent.json" /opt/aws/amazon-cloudwatch-agent/etc/phoenix.json.template

echo "==> done: Phoenix $version in $app"
