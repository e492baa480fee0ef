"""Load for the lab's servers: single HTTP requests, a cookie client, an HTML form parser, wrk.

``request`` never raises: no answer is status 0 (the drills count those). ``Client`` is a small
browser (cookie jar, CSRF header, redirects) for the admin and the live tests. ``wrk`` drives
wrk over a rotating list of paths and returns its figures as a ``Result``.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import re
import statistics
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path


def request(
    host: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict | None = None,
    timeout: float = 15.0,
):
    """Send one request to ``host`` (address:port) on a fresh connection; return (status, headers,
    body text). Status 0: no answer, and the text says why."""
    connection = http.client.HTTPConnection(host, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        return 0, {}, f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()


# ---------------------------------------------------------------- a cookie client


class Headers(dict):
    """Response headers looked up in any case: HAProxy, as the ALB, sends names in lower case."""

    def __init__(self, pairs) -> None:
        super().__init__((name.lower(), value) for name, value in pairs)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default=None):
        return super().get(name.lower(), default)


@dataclass
class Response:
    """What ``Client`` got back (after the redirects it followed)."""

    status: int
    headers: Headers
    body: str
    url: str

    def json(self):
        """Return the body parsed as JSON."""
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """A small browser: a cookie jar, the CSRF header on POSTs, optional redirect following."""

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect)

    def get(self, path: str, follow: bool = True, headers: dict | None = None) -> Response:
        """Send a GET (redirects followed unless ``follow`` is False)."""
        return self.request("GET", path, follow=follow, headers=headers)

    def post(self, path: str, data: dict | list | None = None, follow: bool = False, headers=None, json_body=None):
        """Send a POST of form ``data`` or of ``json_body`` (redirects not followed unless asked)."""
        return self.request("POST", path, data=data, follow=follow, headers=headers, json_body=json_body)

    def request(self, method, path, data=None, follow=True, headers=None, json_body=None) -> Response:
        """Send a request with the cookies; connection failures raise (OSError, HTTPException)."""
        url = urllib.parse.urljoin(self.base_url, path)
        body = None
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif data is not None:
            body = urllib.parse.urlencode(data, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if method == "POST" and self.cookie("csrftoken"):
            headers.setdefault("X-CSRFToken", self.cookie("csrftoken"))
        for _hop in range(10):
            request = urllib.request.Request(url, data=body, method=method, headers=headers)
            try:
                with self._opener.open(request, timeout=self.timeout) as raw:
                    response = Response(raw.status, Headers(raw.headers.items()), raw.read().decode(), url)
            except urllib.error.HTTPError as error:
                response = Response(error.code, Headers(error.headers.items()), error.read().decode(), url)
            if follow and response.status in (301, 302, 303) and "Location" in response.headers:
                url, method, body = urllib.parse.urljoin(url, response.headers["Location"]), "GET", None
                headers.pop("Content-Type", None)
                continue
            return response
        raise AssertionError(f"too many redirects from {path}")

    def cookie(self, name: str) -> str | None:
        """Return the value of a cookie the client holds, or None."""
        return next((cookie.value for cookie in self.cookies if cookie.name == name), None)

    def set_cookie(self, name: str, value: str) -> None:
        """Hold a cookie for the base URL's host, as if the server had set it."""
        host = urllib.parse.urlparse(self.base_url).hostname
        self.cookies.set_cookie(
            http.cookiejar.Cookie(
                0, name, value, None, False, host, False, False, "/", True, False, None, False, None, None, {}
            )
        )

    def drop_cookie(self, name: str) -> None:
        """Forget a cookie."""
        for cookie in list(self.cookies):
            if cookie.name == name:
                self.cookies.clear(cookie.domain, cookie.path, cookie.name)

    def login_admin(self, username: str, password: str) -> None:
        """Log in to the Django admin through its login form."""
        page = self.get("/admin/login/?next=/admin/")
        fields = form_fields(page.body)
        fields.update(username=username, password=password)
        response = self.post("/admin/login/?next=/admin/", data=fields)
        assert response.status == 302, f"admin login failed: {response.status}"


# ---------------------------------------------------------------- an HTML form parser


class _FormParser(HTMLParser):
    """Collect what a browser would submit from the first form with ``form_id`` (or any form)."""

    def __init__(self, form_id: str | None):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.in_form = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_multiple = False
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []
        self.done = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and not self.done and (self.form_id is None or attrs.get("id") == self.form_id):
            self.in_form = True
        if not self.in_form:
            return
        name = attrs.get("name")
        if tag == "input" and name and "disabled" not in attrs:
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.fields.append((name, attrs.get("value") or ("on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select" and name and "disabled" not in attrs:
            self._select, self._select_multiple, self._options = name, "multiple" in attrs, []
        elif tag == "option" and self._select is not None:
            self._options.append((attrs.get("value", ""), "selected" in attrs))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if not self.in_form:
            return
        if tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected]
            if not chosen and not self._select_multiple and self._options:
                chosen = [self._options[0][0]]
            self.fields.extend((self._select, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None
        elif tag == "form":
            self.in_form, self.done = False, True


def form_fields(html: str, form_id: str | None = None) -> dict:
    """Return the fields a browser would submit from the form (single-valued names as str)."""
    parser = _FormParser(form_id)
    parser.feed(html)
    fields: dict = {}
    for name, value in parser.fields:
        if name in fields:
            fields[name] = [*fields[name], value] if isinstance(fields[name], list) else [fields[name], value]
        else:
            fields[name] = value
    return fields


# ---------------------------------------------------------------- wrk

ROTATE_LUA = """
local paths = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i = math.random(#paths)
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["X-Forwarded-Proto"] = "https"})
end
"""


@dataclass
class Result:
    """The figures of one wrk run, or the median of several (``Result.median``)."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    runs: int = 1
    hit_ratio: float | None = None  # page cache hits / requests, where it applies
    cpu_ms: float | None = None  # CPU per request: the app's processes and both database servers
    runs_rps: tuple[float, ...] = ()  # each run's req/s, in round order (for paired ratios)

    @classmethod
    def median(cls, results: list[Result]) -> Result:
        """Return the median of several runs of one scenario (requests and errors summed): one run
        that a noisy neighbour slowed down does not move it."""
        return cls(
            results[0].name,
            statistics.median(r.rps for r in results),
            statistics.median(r.p50_ms for r in results),
            statistics.median(r.p99_ms for r in results),
            sum(r.requests for r in results),
            sum(r.errors for r in results),
            len(results),
            cpu_ms=statistics.median(r.cpu_ms for r in results) if all(r.cpu_ms for r in results) else None,
            runs_rps=tuple(r.rps for r in results),
        )


def wrk_command(
    directory: str, base_url: str, paths: list[str], *, seconds: int, connections: int, latency: bool = False
) -> list[str]:
    """Return a wrk command line that requests ``paths`` in turn (its script and list in ``directory``)."""
    script = Path(directory, "rotate.lua")
    script.write_text(ROTATE_LUA)
    paths_file = Path(directory, "paths.txt")
    paths_file.write_text("\n".join(paths) + "\n")
    return [
        *("wrk", "-t1", f"-c{connections}", f"-d{seconds}s"),
        *(["--latency"] if latency else []),
        # A slow answer is a slow answer, not an error: wrk's default is 2 s.
        *("--timeout", "30s", "-s", str(script), base_url, "--", str(paths_file)),
    ]


def wrk(
    name: str,
    base_url: str,
    paths: list[str],
    *,
    seconds: int,
    connections: int,
    log: Callable[[str], None],
    quiet: bool = False,
) -> Result:
    """Run wrk against ``paths`` in turn and return its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        command = wrk_command(tmp, base_url, paths, seconds=seconds, connections=connections, latency=True)
        output = subprocess.run(command, check=True, text=True, stdout=subprocess.PIPE).stdout
    if not re.search(r"[1-9]\d* requests in", output) and seconds < 60:
        log(f"{name}: no request completed in {seconds} s; running it again for {seconds * 3} s")
        return wrk(name, base_url, paths, seconds=seconds * 3, connections=connections, log=log, quiet=quiet)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.MULTILINE))
    result = Result(name, rps, _ms(latency["50"]), _ms(latency["99"]), requests, errors)
    if not quiet:
        log(f"{name}: {rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, errors {errors}")
    return result


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
