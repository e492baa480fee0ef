"""Bare references the application is measured against, in instructions per request (bench-only).

``minimal_django()``: a Django project with one view answering a fixed body through the
middleware ``startproject`` writes, no database. ``flask_page()``: the same page as ``bare()``
through a minimal Flask app (its routing, request and response objects, Jinja2 environment).
``bare()``: plain WSGI with one mysqlclient
connection and no framework: ``/track/<number>/`` reads the tracking page's data in the
page's own single query and renders a page of the same parts (status, facts, the form, the
history) through Jinja2 with autoescape on; ``/api/v1/tracking/<number>`` answers the public
tracking JSON through ``json``. They are floors, not rivals: no translations, no security
headers, no routing to a reader, no pins. See docs/performance.md, section instructions.
"""

import json
import os
import re
from datetime import datetime
from urllib.parse import unquote, urlsplit

FIXED_BODY = b"ok\n" * 8

urlpatterns: list = []  # the minimal project's URLs, filled by minimal_django()


def _fixed(request):
    from django.http import HttpResponse

    return HttpResponse(FIXED_BODY, content_type="text/plain")


def minimal_django():
    """Return the WSGI handler of a one-view Django project with startproject's middleware."""
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz",  # noqa: S106
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
        ],
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        DATABASES={},
        USE_TZ=True,
    )
    import django
    from django.core.handlers.wsgi import WSGIHandler
    from django.urls import path

    django.setup()
    urlpatterns.append(path("fixed", _fixed))
    return WSGIHandler()


PAGE_SQL = (
    "SELECT s.tracking_number, s.milestone, s.exception_open, s.exception_reason, s.eta_earliest,"
    " s.eta_latest, s.origin_city, s.destination_city, s.pieces, s.weight_grams, s.service,"
    " e.code, e.occurred_at, f.city, f.time_zone"
    " FROM tracking_shipment s LEFT JOIN tracking_trackingevent e ON e.shipment_id = s.id"
    " LEFT JOIN tracking_facility f ON f.id = e.facility_id"
    " WHERE s.tracking_number = %s ORDER BY e.occurred_at DESC, e.id DESC"
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ s.number }} · {{ s.milestone }}</title><link rel="stylesheet" href="/static/site.css"></head>
<body><header class="top"><a class="brand" href="/">QualityPost</a></header>
<main id="main" class="wrap"><article class="shipment">
<p class="eyebrow">Tracking number</p><h1 id="number">{{ s.number }}</h1>
<div class="panel"><p class="status">{{ s.milestone|replace("_", " ")|capitalize }}</p>
{% if s.exception_open %}<p class="exception">{{ s.exception_reason|replace("_", " ") }}</p>{% endif %}
{% if s.eta_latest %}<p class="eta">Expected by {{ s.eta_latest.strftime("%A %d %B") }}</p>{% endif %}
<dl class="facts"><div><dt>From</dt><dd>{{ s.origin_city }}</dd></div><div><dt>To</dt><dd>{{ s.destination_city }}</dd></div>
<div><dt>Service</dt><dd>{{ s.service }} · {{ s.pieces }} pieces · {{ "%.1f"|format(s.weight_grams / 1000) }} kg</dd></div></dl></div>
<section class="private"><h2>Recipient and proof of delivery</h2>
<form class="unlock" method="get" action="/track/{{ s.number }}/"><label for="pc">Postal code</label>
<input type="text" name="postal_code" id="pc" maxlength="10"><button type="submit">Show details</button></form></section>
<section class="history"><h2>History</h2><ol class="timeline">
{% for e in events %}<li><time datetime="{{ e.at.isoformat() }}">{{ e.at.strftime("%d %b %H:%M") }} <abbr>{{ e.zone }}</abbr></time>
<span class="what">{{ e.code|replace("_", " ")|capitalize }}</span>{% if e.city %}<span class="where">{{ e.city }}</span>{% endif %}</li>
{% endfor %}</ol></section></article></main></body></html>
"""

_TRACK = re.compile(r"^/track/([A-Z0-9]+)/$")
_API = re.compile(r"^/api/v1/tracking/([A-Z0-9]+)$")


def _reader():
    """Return a mysqlclient connection to DATABASE_READER_URL (else DATABASE_URL)."""
    import MySQLdb

    url = urlsplit(os.environ.get("DATABASE_READER_URL") or os.environ["DATABASE_URL"])
    return MySQLdb.connect(
        host=url.hostname,
        port=url.port or 3306,
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        database=url.path.lstrip("/"),
        charset="utf8mb4",
        autocommit=True,
    )


def _page_data(connection, number: str) -> tuple[dict, list[dict]]:
    """Return the page's shipment and events from its one query."""
    cursor = connection.cursor()
    cursor.execute(PAGE_SQL, [number])
    found = cursor.fetchall()
    first = found[0]
    shipment = {
        "number": first[0],
        "milestone": first[1],
        "exception_open": first[2],
        "exception_reason": first[3],
        "eta_latest": first[5],
        "origin_city": first[6],
        "destination_city": first[7],
        "pieces": first[8],
        "weight_grams": first[9],
        "service": first[10],
    }
    return shipment, [{"code": r[11], "at": r[12], "city": r[13], "zone": r[14]} for r in found if r[11]]


def flask_page():
    """Return a minimal Flask app serving the page at /track/<number>/ (one connection)."""
    from flask import Flask

    app = Flask(__name__)
    connection = _reader()
    template = app.jinja_env.from_string(PAGE)  # compiled once, as Flask's loader caches a file

    @app.get("/track/<number>/")
    def page(number: str):
        shipment, events = _page_data(connection, number)
        return template.render(s=shipment, events=events)

    return app


def bare():
    """Return the plain WSGI application (one connection, opened now)."""
    import jinja2

    connection = _reader()
    template = jinja2.Environment(autoescape=True).from_string(PAGE)

    def rows(number: str) -> list[tuple]:
        cursor = connection.cursor()
        cursor.execute(PAGE_SQL, [number])
        return cursor.fetchall()

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if match := _TRACK.match(path):
            shipment, events = _page_data(connection, match.group(1))
            body = template.render(s=shipment, events=events).encode()
            kind = "text/html; charset=utf-8"
        elif match := _API.match(path):
            found = rows(match.group(1))
            first = found[0]
            body = json.dumps(
                {
                    "tracking_number": first[0],
                    "milestone": first[1],
                    "exception": {"open": bool(first[2]), "reason": first[3] or None},
                    "eta": {"earliest": _iso(first[4]), "latest": _iso(first[5])},
                    "origin": {"city": first[6]},
                    "destination": {"city": first[7]},
                    "events": [
                        {"code": r[11], "occurred_at": _iso(r[12]), "facility": {"city": r[13]} if r[13] else None}
                        for r in found
                        if r[11]
                    ],
                },
                separators=(",", ":"),
            ).encode()
            kind = "application/json"
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body)))])
        return [body]

    return app


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
