#!/usr/bin/env bash
# The boot rehearsal's systemctl (no systemd as PID 1 here): records every call in
# $REHEARSAL_LOG/systemctl; `start phoenix.service` does what the unit does (gunicorn with
# deploy/gunicorn.conf.py and the environment file), in its own session so that the
# rehearsal can stop it; every other unit is only recorded.
set -euo pipefail
echo "$*" >>"$REHEARSAL_LOG/systemctl"
if [ "$*" = "start phoenix.service" ]; then
    set -a
    # shellcheck source=/dev/null
    . "$PHOENIX_ETC/env"
    set +a
    export PHOENIX_ENV_FILE="$PHOENIX_ETC/env"
    cd "$PHOENIX_PREFIX/app"
    setsid "$PHOENIX_PREFIX/venv/bin/gunicorn" --config deploy/gunicorn.conf.py \
        >"$REHEARSAL_LOG/gunicorn.log" 2>&1 </dev/null &
    echo $! >"$REHEARSAL_LOG/gunicorn.pid"
fi
