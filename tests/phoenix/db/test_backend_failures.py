"""The backend on real connections killed by the server (KILL as root), inside this process.

Here both aliases reach the writer server over separate connections (tests/conftest.py), so a
killed connection is a real lost connection and the retried statement really runs elsewhere.
"""

import pytest
from django.db import connections

from phoenix.db import state, use_writer
from phoenix.db.errors import WriterUnavailable
from tests import factories
from tracking.models import Shipment

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture(autouse=True)
def nothing_marked_down():
    yield
    state.mark_up("default")
    state.mark_up("reader")


def _kill(writer_root, alias: str) -> None:
    """Kill the server side of ``alias``'s current connection, as a failover does."""
    connections[alias].ensure_connection()
    thread_id = int(connections[alias].connection.thread_id())
    with writer_root.cursor() as cursor:
        cursor.execute(f"KILL CONNECTION {thread_id}")


def test_a_reader_lost_mid_request_is_retried_on_the_writer_and_marked_down(writer_root):
    shipment = factories.shipment()
    _kill(writer_root, "reader")
    with state.scope() as current:
        assert Shipment.objects.get(pk=shipment.pk).tracking_number == shipment.tracking_number
        assert state.is_down("reader")
        assert "reader_down" in current.reasons["default"]
        assert current.queries == {"default": 1}
        # While it is marked down, reads go straight to the writer.
        assert Shipment.objects.filter(pk=shipment.pk).exists()
        assert current.queries == {"default": 2}


def test_a_stale_writer_connection_is_replaced_for_a_read(writer_root):
    shipment = factories.shipment()
    with state.scope(), use_writer():
        _kill(writer_root, "default")
        assert Shipment.objects.get(pk=shipment.pk).pk == shipment.pk
        assert not state.is_down("default")


def test_a_write_on_a_lost_writer_raises_writer_unavailable_and_later_writes_fail_fast(writer_root):
    shipment = factories.shipment()
    with state.scope():
        _kill(writer_root, "default")
        with pytest.raises(WriterUnavailable):
            Shipment.objects.filter(pk=shipment.pk).update(reference="LOST")
        assert state.is_down("default")
        assert connections["default"].connection is None  # discarded: the next use reconnects
        with pytest.raises(WriterUnavailable):
            Shipment.objects.filter(pk=shipment.pk).update(reference="FAST")
        # A pinned read is served by the reader while the writer is down.
        state.note_write()
        assert Shipment.objects.get(pk=shipment.pk).reference == ""
        assert "writer_down" in state.current().reasons["reader"]
    state.mark_up("default")
    assert Shipment.objects.filter(pk=shipment.pk).update(reference="BACK") == 1


def test_inside_use_writer_a_down_writer_is_an_error_not_a_stale_read(writer_root):
    shipment = factories.shipment()
    with state.scope(), use_writer():
        _kill(writer_root, "default")
        state.mark_down("default", 60)
        with pytest.raises(WriterUnavailable):
            Shipment.objects.get(pk=shipment.pk)


def test_a_writer_that_turned_read_only_is_discarded(writer_root):
    shipment = factories.shipment()
    connections["default"].ensure_connection()
    with writer_root.cursor() as cursor:
        cursor.execute("SET GLOBAL read_only = 1")
    try:
        with pytest.raises(WriterUnavailable) as caught:
            Shipment.objects.filter(pk=shipment.pk).update(reference="RO")
        assert caught.value.args[0] == 1290
        assert connections["default"].connection is None
        state.mark_up("default")
        with pytest.raises(WriterUnavailable, match="read-only"):  # a new connection checks the role
            connections["default"].ensure_connection()
    finally:
        with writer_root.cursor() as cursor:
            cursor.execute("SET GLOBAL read_only = 0")
    state.mark_up("default")
    assert Shipment.objects.filter(pk=shipment.pk).update(reference="RW") == 1
