"""Gunicorn configuration for Phoenix: the AMI (systemd), the Docker image and `make stack`.

Every value can be overridden from the environment, so the one file serves all three:

    GUNICORN_BIND          listen address (default 0.0.0.0:$PORT, PORT defaulting to 8000)
    GUNICORN_WORKERS       worker processes (default: CPU count + 1)
    GUNICORN_THREADS       threads per worker (default: 2 x CPU count, at least 4)
    GUNICORN_TIMEOUT       seconds a request may run before its worker is recycled (default 30)
    GUNICORN_GRACEFUL_TIMEOUT  seconds given to in-flight requests on stop or reload (default 30)
    GUNICORN_PROC_NAME     process title, to tell instances apart in `ps` (default phoenix)
    GUNICORN_ACCESS_LOG    access log target, "-" for stdout (default), "" to switch it off
    FORWARDED_ALLOW_IPS    addresses whose X-Forwarded-* headers are trusted (default: the VPC)
    PHOENIX_ENV_FILE       environment file re-read on every start and HUP (see docs/deploy.md)

Run `gunicorn -c deploy/gunicorn.conf.py --check-config` to validate it.
"""

import datetime
import importlib.util
import json
import os
from pathlib import Path

import gunicorn.http.wsgi
from gunicorn import glogging

wsgi_app = "phoenix.wsgi:application"


def _load(name: str, path: Path):
    """Return the module at ``path``, loaded by its file name (this file runs before Django and
    before gunicorn puts the app's directory on sys.path)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# gthread: Django spends most of a request waiting on Aurora, so threads overlap those waits
# while the processes (one per core plus a spare) use the CPUs despite the GIL. The worker is
# gthread plus /healthz answered in its main loop (phoenix/gunicorn_worker.py), so the load
# balancer's liveness check is answered even while every thread waits on a silent database.
_cpus = os.cpu_count() or 1
worker_class = _load(
    "phoenix_gunicorn_worker", Path(__file__).parents[1] / "phoenix" / "gunicorn_worker.py"
).HealthzThreadWorker
workers = _env_int("GUNICORN_WORKERS", _cpus + 1)
threads = _env_int("GUNICORN_THREADS", max(4, 2 * _cpus))

bind = [os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{_env_int('PORT', 8000)}"]
proc_name = os.environ.get("GUNICORN_PROC_NAME", "phoenix")

# The ALB keeps idle connections to targets for 60 s; gunicorn must keep them open longer, or
# the ALB reuses a connection gunicorn has just closed and the client gets a 502.
keepalive = _env_int("GUNICORN_KEEPALIVE", 75)
timeout = _env_int("GUNICORN_TIMEOUT", 30)
# On SIGTERM (systemd stop, ASG scale-in after the ALB deregistration delay) or HUP, workers
# finish in-flight requests for this long. systemd's TimeoutStopSec is above it.
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Recycle workers now and then so that a slow leak never takes an instance down.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 5000)
max_requests_jitter = max_requests // 10

# X-Forwarded-For/-Proto are trusted only from the load balancer's subnets (the VPC CIDR of
# deploy/cloudformation/network.yaml); anybody else could claim to be on HTTPS.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "10.20.0.0/16")

# gunicorn writes its own "Server: gunicorn" on every answer, before the app's headers, and has
# no setting for it (a middleware cannot remove it): name the service instead of the software.
# Set here, in the master, before the workers fork; re-set on every HUP.
gunicorn.http.wsgi.SERVER = "phoenix"

# Headers larger than this are refused with a 400 before Django sees them.
limit_request_field_size = 8190


# Query parameters whose values never reach the logs (the postal code unlocks private details):
# the same rule as the app's own log lines (phoenix/logfilters.py, standard library only).
_logfilters = _load("phoenix_logfilters", Path(__file__).parents[1] / "phoenix" / "logfilters.py")
_redacted_query, _redacted_path = _logfilters.redacted_query, _logfilters.redacted_path


def _redacted_url(url: str) -> str:
    base, sep, query = url.partition("?")
    return _redacted_path(base) + sep + _redacted_query(query) if sep else _redacted_path(url)


class JsonAccessLogger(glogging.Logger):
    """Write the access log as one JSON object per line (CloudWatch Logs Insights reads it)."""

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        line = {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "type": "access",
            "remote_addr": atoms.get("h", ""),
            "forwarded_for": atoms.get("{x-forwarded-for}i", ""),
            "method": atoms.get("m", ""),
            "path": _redacted_path(atoms.get("U", "")),
            "query": _redacted_query(atoms.get("q", "")),
            "protocol": atoms.get("H", ""),
            "status": int(atoms["s"]) if str(atoms.get("s", "")).isdigit() else atoms.get("s"),
            "bytes": atoms.get("B") or 0,
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "referer": _redacted_url(atoms.get("{referer}i", "")),
            "user_agent": atoms.get("{user-agent}i", ""),
            "trace_id": atoms.get("{x-amzn-trace-id}i", ""),
            "pid": os.getpid(),
        }
        try:
            self.access_log.info("%s", json.dumps(line, separators=(",", ":")))
        except Exception:  # never let logging break a response
            self.exception("cannot write the access log line")


logger_class = JsonAccessLogger
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def _load_env_file() -> list[str]:
    """Return the KEY=value pairs of PHOENIX_ENV_FILE, parsed as deploy/phoenix_env.py wrote them.

    gunicorn re-executes this file on SIGHUP and puts `raw_env` into the master's environment
    before it forks the new workers, so a rotated database password written to the file by the
    refresh timer reaches new workers without dropping a request.
    """
    path = os.environ.get("PHOENIX_ENV_FILE", "")
    if not path or not Path(path).exists():
        return []
    phoenix_env = _load("phoenix_env", Path(__file__).with_name("phoenix_env.py"))
    return [f"{key}={value}" for key, value in phoenix_env.read_env_file(Path(path)).items()]


raw_env = _load_env_file()
