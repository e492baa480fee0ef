"""The loop that runs under callgrind: requests in this process, a counter dump around each scenario.

    python instructions_child.py PLAN.json

PLAN names a ``target`` and its scenarios. Targets: ``phoenix`` (the application's WSGI handler
with its settings from the environment), ``django-minimal`` (a Django project with one view
and the middleware ``startproject`` writes) ``flask`` (the bare page through Flask) and ``bare`` (plain WSGI: the tracking page from the
same tables through Jinja2, and the tracking JSON through ``json``). Each scenario makes
``warmup`` requests, then asks callgrind to dump its counters, makes ``requests`` requests,
and dumps again: the second dump holds exactly the measured requests (plus the fixed cost of a
dump, measured by an empty scenario). Every answer must be 200, or the run stops.
"""

import io
import json
import os
import subprocess
import sys
from urllib.parse import urlsplit


def dump(name: str) -> None:
    """Ask callgrind to write and reset its counters (a no-op outside valgrind)."""
    subprocess.run(["callgrind_control", f"--dump={name}", str(os.getpid())], capture_output=True, check=False)


def call(app, path: str, headers: dict[str, str]) -> bytes:
    """Send one GET through the WSGI ``app``; return the body (and insist on 200)."""
    url = urlsplit(path)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": url.path,
        "QUERY_STRING": url.query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
    }
    status = []
    chunks = app(environ, lambda s, h, exc_info=None: status.append(s))
    body = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    if not status[0].startswith("200"):
        raise SystemExit(f"{path}: {status[0]}: {body[:300]!r}")
    return body


def application(target: str):
    """Return the WSGI application of ``target``."""
    if target == "phoenix":
        from phoenix.wsgi import application  # what gunicorn serves (deploy/gunicorn.conf.py)

        return application
    from deploy.local.performance import references

    if target == "django-minimal":
        return references.minimal_django()
    if target == "flask":
        return references.flask_page()
    return references.bare()


def main() -> int:
    plan = json.loads(open(sys.argv[1]).read())  # noqa: SIM115 (read once, at start)
    sys.path.insert(0, plan["repo"])
    app = application(plan["target"])
    for scenario in plan["scenarios"]:
        paths = scenario["paths"]
        headers = scenario.get("headers", {})
        for index in range(scenario.get("warmup", plan["warmup"])):
            call(app, paths[index % len(paths)], headers)
        dump(f"warm-{scenario['name']}")
        for index in range(scenario.get("requests", plan["requests"])):
            call(app, paths[index % len(paths)], headers)
        dump(scenario["name"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
