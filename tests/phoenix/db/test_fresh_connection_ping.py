"""The health check's ping is skipped on a connection that just answered, and only then.

Connections killed by the server (KILL as root) stand for a failover; see
tests/phoenix/db/test_backend_failures.py for the rest of the failure handling.
"""

import time

import pytest
from django.db import connections

from phoenix.db import state
from phoenix.db.backends.mysql.base import FRESH_SECONDS
from phoenix.db.errors import WriterUnavailable
from tests import factories
from tests.phoenix.db.test_backend_failures import nothing_marked_down  # noqa: F401 (autouse)
from tracking.models import Shipment

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def _used_then_killed(writer_root, alias: str, seconds_ago: float) -> int:
    """Run a statement on ``alias``, kill its connection server-side, start a new request;
    return the killed connection's thread id."""
    wrapper = connections[alias]
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
    thread_id = int(wrapper.connection.thread_id())
    with writer_root.cursor() as cursor:
        cursor.execute(f"KILL CONNECTION {thread_id}")
    wrapper.used_at = time.monotonic() - seconds_ago
    wrapper.health_check_done = False  # what request_started/finished do between requests
    return thread_id


def test_a_connection_idle_longer_than_the_window_is_pinged_and_replaced_before_a_write(writer_root):
    shipment = factories.shipment()
    killed = _used_then_killed(writer_root, "default", seconds_ago=FRESH_SECONDS * 2)
    with state.scope():
        assert Shipment.objects.filter(pk=shipment.pk).update(reference="AFTER-PING") == 1
    assert int(connections["default"].connection.thread_id()) != killed
    assert not state.is_down("default")


def test_a_connection_that_just_answered_is_not_pinged(writer_root):
    shipment = factories.shipment()
    _used_then_killed(writer_root, "default", seconds_ago=0)
    # No ping found the dead connection: the write meets it, as it would had the server gone
    # between a ping and the write; the connection is discarded, the writer marked down.
    with state.scope(), pytest.raises(WriterUnavailable):
        Shipment.objects.filter(pk=shipment.pk).update(reference="NO-PING")
    assert connections["default"].connection is None
    state.mark_up("default")
    with state.scope():
        assert Shipment.objects.filter(pk=shipment.pk).update(reference="RECONNECTED") == 1


def test_a_read_on_a_connection_lost_within_the_window_still_answers(writer_root):
    shipment = factories.shipment()
    killed = _used_then_killed(writer_root, "reader", seconds_ago=0)
    with state.scope():
        assert Shipment.objects.get(pk=shipment.pk).tracking_number == shipment.tracking_number
    assert connections["reader"].connection is None or int(connections["reader"].connection.thread_id()) != killed
