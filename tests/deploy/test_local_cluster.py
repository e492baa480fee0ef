"""The local writer + replica harness is a real replica, and the app user cannot write to it."""

import time

import MySQLdb
import pytest
from django.db import connection

from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for_row(replica, database: str, table: str, pk: int, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with replica.cursor() as cursor:
            cursor.execute(f"SELECT tracking_number FROM `{database}`.`{table}` WHERE id = %s", [pk])
            row = cursor.fetchone()
        if row:
            return row
        time.sleep(0.05)
    return None


def test_a_row_written_on_the_writer_is_read_back_from_the_replica_server(replica_connection):
    shipment = factories.shipment()
    database = connection.settings_dict["NAME"]  # the test database, created on the writer
    row = _wait_for_row(replica_connection, database, "tracking_shipment", shipment.pk)
    assert row == (shipment.tracking_number,)
    with replica_connection.cursor() as cursor:
        cursor.execute("SELECT @@server_id, @@read_only")
        assert cursor.fetchone() == (2, 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@server_id, @@read_only")
        assert cursor.fetchone() == (1, 0)


def test_the_app_user_cannot_write_on_the_replica(replica_connection):
    with replica_connection.cursor() as cursor, pytest.raises(MySQLdb.OperationalError) as caught:
        cursor.execute("CREATE DATABASE should_not_exist")
    assert caught.value.args[0] == 1290  # --read-only refuses the statement
