"""/readyz is for the load balancer and operators, and probes the database at most once a moment."""

import pytest
from django.db import connections
from django.test import Client

from phoenix.db import middleware

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_probe():
    middleware.readyz_cache_clear()
    yield
    middleware.readyz_cache_clear()


def _writer_connections() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Connections'")
        return int(cursor.fetchone()[1])


def test_it_answers_readyz_to_a_health_check_from_inside_the_vpc():
    # The ALB's health checker connects from its own private address and sends no X-Forwarded-For.
    response = Client().get("/readyz", REMOTE_ADDR="10.0.3.17", HTTP_HOST="10.0.3.40")
    assert response.status_code == 200
    assert response.json()["ready"] is True


def test_it_does_not_answer_readyz_to_the_internet():
    from_internet = Client().get("/readyz", REMOTE_ADDR="10.0.1.9", HTTP_X_FORWARDED_FOR="203.0.113.5")
    forged = Client().get("/readyz", REMOTE_ADDR="10.0.1.9", HTTP_X_FORWARDED_FOR="10.0.0.5, 203.0.113.5")
    assert from_internet.status_code == forged.status_code == 404
    assert b"writer" not in from_internet.content and b"writer" not in forged.content


def test_it_answers_an_operator_with_the_shared_header_from_anywhere(settings):
    settings.PHOENIX_READYZ_TOKEN = "a-long-shared-secret-for-operators"
    outside = {"REMOTE_ADDR": "10.0.1.9", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    assert (
        Client().get("/readyz", HTTP_X_READYZ_TOKEN="a-long-shared-secret-for-operators", **outside).status_code == 200
    )
    assert Client().get("/readyz", HTTP_X_READYZ_TOKEN="a-guess", **outside).status_code == 404


def test_it_keeps_healthz_public_and_without_the_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/healthz", REMOTE_ADDR="10.0.1.9", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert (response.status_code, response.content) == (200, b"ok")


def test_it_probes_the_writer_once_for_many_requests_within_the_cache_interval(settings):
    settings.PHOENIX_READYZ_CACHE_SECONDS = 60  # longer than the test: no timing involved
    before = _writer_connections()
    answers = [Client().get("/readyz").status_code for _ in range(20)]
    opened = _writer_connections() - before
    assert answers == [200] * 20
    assert opened <= 2  # one probe: a fresh connection for the writer alias and one for the reader alias
