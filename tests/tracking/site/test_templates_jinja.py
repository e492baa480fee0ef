"""The public pages through Jinja2 (tracking/jinja2/) are byte for byte the Django templates'
pages they replaced (tracking/templates/tracking/): every public page, in Spanish and English,
for a seeded sample with every milestone and every exception reason, headers included."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from tracking import numbers
from tracking.models import ExceptionReason, Milestone, Shipment
from tracking.site import templating

pytestmark = pytest.mark.django_db

LANGUAGES = {"es": "es-MX,es;q=0.9", "en": "en-US,en;q=0.9"}


def _both(client, monkeypatch, url, params=None, **extra):
    """Return the answers to one GET through the Django templates and through Jinja2."""
    answers = {}
    for engine in ("django", "jinja2"):
        monkeypatch.setattr(templating, "ENGINE", engine)
        answers[engine] = client.get(url, params or {}, **extra)
    return answers["django"], answers["jinja2"]


def _same(old, new, what):
    assert new.status_code == old.status_code, what
    assert new.content.decode() == old.content.decode(), what
    skip = {"Date", "Expires"}
    assert {k: v for k, v in new.headers.items() if k not in skip} == {
        k: v for k, v in old.headers.items() if k not in skip
    }, what


@pytest.fixture
def sample(settings):
    """Seeded shipments: one of every milestone, and one with each open exception reason."""
    settings.PHOENIX_LOOKUP_BUDGET = 100_000
    call_command("seed_demo", shipments=400, seed=8, quiet=True)
    picked: dict[str, Shipment] = {}
    for shipment in Shipment.objects.order_by("id"):
        picked.setdefault(shipment.milestone, shipment)
        if shipment.exception_open:
            picked.setdefault(f"exception:{shipment.exception_reason}", shipment)
    missing = {m for m in Milestone.values if m not in picked}
    missing |= {f"exception:{r}" for r in ExceptionReason.values if f"exception:{r}" not in picked}
    # What the seed did not draw is made from a drawn shipment: the page shows what the row says.
    spare = iter(Shipment.objects.exclude(pk__in=[s.pk for s in picked.values()]).order_by("id"))
    for key in sorted(missing):
        shipment = next(spare)
        if key.startswith("exception:"):
            Shipment.objects.filter(pk=shipment.pk).update(exception_open=True, exception_reason=key.split(":")[1])
        else:
            Shipment.objects.filter(pk=shipment.pk).update(milestone=key)
        picked[key] = Shipment.objects.get(pk=shipment.pk)
    return picked


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_public_page_is_the_same_through_jinja2(client, monkeypatch, sample, language):
    header = {"HTTP_ACCEPT_LANGUAGE": LANGUAGES[language]}
    compared = 0
    for key, shipment in sorted(sample.items()):
        url = reverse("tracking:detail", args=[shipment.tracking_number])
        postal_code = shipment.destination_postal_code
        for params in ({}, {"postal_code": postal_code}, {"postal_code": "00000"}, {"postal_code": "<'&\">"}):
            old, new = _both(client, monkeypatch, url, params, **header)
            assert old.status_code in (200, 400, 403), (key, params)
            _same(old, new, (key, params))
            compared += 1
    tracked = [s.tracking_number for s in sample.values()][:21]
    lookups = [
        " ".join(tracked),
        " ".join([*tracked[:3], numbers.from_body(98765432109), tracked[0][:-1] + "x", "QP1"]),
        "<b>'&\"",  # an error on the form
        "",
        "x" * 1200,
    ]
    for text in lookups:
        old, new = _both(client, monkeypatch, "/track/", {"numbers": text}, **header)
        _same(old, new, text)
    for path in ("/", "/track/QP000000000001/", "/track/QP123/", "/track/<o'k>/", f"/track/{numbers.from_body(1)}/"):
        old, new = _both(client, monkeypatch, path, **header)
        _same(old, new, path)
    assert compared == 4 * len(sample) >= len(Milestone.values) + len(ExceptionReason.values)


def test_the_too_many_page_is_the_same_through_jinja2(client, monkeypatch, settings, sample):
    settings.PHOENIX_LOOKUP_BUDGET = 1
    for language, accept in LANGUAGES.items():
        client.get(f"/track/{numbers.from_body(77)}/")  # a miss spends the budget
        old, new = _both(client, monkeypatch, f"/track/{numbers.from_body(78)}/", HTTP_ACCEPT_LANGUAGE=accept)
        assert old.status_code == 429, language
        _same(old, new, language)
