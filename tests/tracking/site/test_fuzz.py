"""Hostile input to the public forms and the language switch: no answer is a server error.

Hypothesis sends arbitrary text (control characters, surrogates escaped by the encoder, long
strings, markup, look-alike digits) to every public form field and path segment. Django's test
client raises any exception a view lets out, so a 500 fails the test with its traceback; every
answer must be a 2xx, 3xx or 4xx (400, 403, 404, 405, 413, 429 are all fine).
"""

from urllib.parse import urlsplit

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text as a visitor or a script may send it: any code point, biased to the interesting ones.
hostile = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from("QP0123456789 -_,.;\n\t\u00a0\u0660\uff10<>\"'&%/\\"), max_size=80),
    st.sampled_from(
        ["", " ", "\x00", "%00", "../../etc/passwd", "<script>alert(1)</script>", "' OR 1=1 --", "Q" * 5000]
    ),
)


@pytest.fixture(autouse=True)
def _no_budget(settings):
    """Lift the lookup budget and the unlock lockout: the fuzz is about the answers' shape."""
    settings.PHOENIX_LOOKUP_BUDGET = 10**9
    settings.PHOENIX_UNLOCK_FAILURES = 10**9


@pytest.fixture
def number() -> str:
    return factories.shipment().tracking_number


def _ok(response) -> None:
    assert response.status_code < 500, response.status_code


def _safe(text: str) -> str:
    """The test client cannot put a lone surrogate into a URL or a form: encode it as sent."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


@FUZZ
@given(text=hostile)
def test_the_lookup_form(text):
    _ok(Client().get("/track/", {"numbers": _safe(text)}))


@FUZZ
@given(segment=hostile)
def test_the_tracking_page_path(segment):
    segment = _safe(segment).replace("/", "_") or "_"
    _ok(Client().get(f"/track/{segment}/"))


@FUZZ
@given(code=hostile, extra=st.dictionaries(hostile, hostile, max_size=3))
def test_the_postal_code_unlock(number, code, extra):
    data = {_safe(k): _safe(v) for k, v in extra.items()} | {"postal_code": _safe(code)}
    _ok(Client().post(f"/track/{number}/", data))


@FUZZ
@given(email=hostile, topics=st.lists(hostile, max_size=4))
def test_the_subscription_form(number, email, topics):
    client = Client()  # CSRF is not enforced by the test client: the form's own checks are fuzzed
    _ok(client.post(f"/track/{number}/notify/", {"email": _safe(email), "topics": [_safe(t) for t in topics]}))


@FUZZ
@given(language=hostile, next_url=hostile, referer=hostile)
def test_the_language_switch(language, next_url, referer):
    response = Client().post(
        "/i18n/setlang/", {"language": _safe(language), "next": _safe(next_url)}, HTTP_REFERER=_safe(referer)
    )
    _ok(response)
    if response.status_code in (301, 302):  # never off site (the next address or the Referer)
        location = response["Location"]
        assert not location.startswith(("//", "/\\")) and urlsplit(location).netloc in ("", "testserver"), location


@FUZZ
@given(token=hostile, method=st.sampled_from(["GET", "POST", "HEAD"]))
def test_the_email_links(token, method):
    token = _safe(token).replace("/", "_") or "_"
    for link in (f"/notify/confirm/{token}/", f"/notify/unsubscribe/{token}/"):
        _ok(Client().generic(method, link))
