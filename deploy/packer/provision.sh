#!/usr/bin/env bash
# Provision the Phoenix AMI on the Packer builder (Amazon Linux 2023), as root.
#
#   PHOENIX_ARCHIVE=/tmp/phoenix.tar.gz PHOENIX_VERSION=abc123 provision.sh
#
# Installs python3.12 and the build headers, the CloudWatch agent and aws-cfn-bootstrap, a
# virtualenv from the pinned requirements, the collected static files, every systemd unit in
# deploy/systemd/ (enabled, but held back by a condition until deploy/userdata.sh has written
# /etc/phoenix/env), and the CloudWatch agent configuration. Nothing secret is baked in.
set -euo pipefail

archive="${PHOENIX_ARCHIVE:?set PHOENIX_ARCHIVE to the repository tarball}"
version="${PHOENIX_VERSION:-dev}"
prefix=/opt/phoenix
app="$prefix/app"
venv="$prefix/venv"

echo "==> system packages"
dnf -y -q upgrade --refresh
dnf -y -q install python3.12 python3.12-devel gcc pkgconf-pkg-config mariadb-connector-c-devel \
    amazon-cloudwatch-agent aws-cfn-bootstrap logrotate tar gzip
dnf clean all

echo "==> service user and directories"
id phoenix >/dev/null 2>&1 || useradd --system --home-dir /var/lib/phoenix --shell /sbin/nologin phoenix
install -d -m 0755 "$prefix" "$app"
install -d -m 0750 -o root -g phoenix /etc/phoenix
install -d -m 0750 -o phoenix -g phoenix /var/lib/phoenix /var/lib/phoenix/media /var/log/phoenix

echo "==> application $version"
tar -xzf "$archive" -C "$app"
rm -f "$archive"
echo "$version" >"$app/VERSION"
python3.12 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet --no-cache-dir -r "$app/requirements.txt"
# collectstatic needs a secret key to import the settings; this one exists only for the build.
(cd "$app" && DJANGO_SECRET_KEY="collectstatic-at-bake-time-only-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
    "$venv/bin/python" manage.py collectstatic --no-input -v0)
"$venv/bin/python" -m compileall -q "$app" >/dev/null
chown -R root:root "$app" "$venv"
chmod -R go-w "$app" "$venv"

echo "==> systemd units"
shopt -s nullglob
for unit in "$app"/deploy/systemd/*.service "$app"/deploy/systemd/*.timer; do
    name="$(basename "$unit")"
    install -m 0644 "$unit" "/etc/systemd/system/$name"
    if [[ "$name" == *.service ]]; then
        # Enabled at bake time, started for real once the first boot has configured it.
        install -d "/etc/systemd/system/$name.d"
        printf '[Unit]\nConditionPathExists=/etc/phoenix/env\n' >"/etc/systemd/system/$name.d/10-configured.conf"
    fi
done
systemctl daemon-reload
for unit in "$app"/deploy/systemd/*.service "$app"/deploy/systemd/*.timer; do
    if grep -q '^\[Install\]' "$unit"; then
        systemctl enable "$(basename "$unit")"
    fi
done
shopt -u nullglob

echo "==> logs: files for the CloudWatch agent, rotated by logrotate"
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
install -d /etc/systemd/system/phoenix.service.d
printf '[Service]\nStandardOutput=append:/var/log/phoenix/web.log\nStandardError=inherit\n' \
    >/etc/systemd/system/phoenix.service.d/20-log-file.conf
# userdata.sh replaces __PHOENIX_ENV__ with the environment name and starts the agent.
install -m 0644 "$app/deploy/cloudwatch-agent.json" /opt/aws/amazon-cloudwatch-agent/etc/phoenix.json.template

echo "==> done: Phoenix $version in $app"
