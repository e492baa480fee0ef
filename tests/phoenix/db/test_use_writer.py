"""use_writer() nests and restores; routing state is per context (thread, task), never shared."""

import threading

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction

from phoenix.db import state, use_writer
from phoenix.db.router import read_alias
from tracking.models import Shipment


def test_nested_use_writer_restores_the_outer_state():
    assert read_alias() == "reader"
    with use_writer():
        assert read_alias() == "default"
        with use_writer():
            assert state.writer_depth() == 2
        assert state.writer_depth() == 1
        assert read_alias() == "default"
    assert state.writer_depth() == 0
    assert read_alias() == "reader"


def test_use_writer_restores_the_outer_state_when_the_inner_block_raises():
    with use_writer():
        with pytest.raises(ValueError), use_writer():
            raise ValueError("boom")
        assert state.writer_depth() == 1
    assert read_alias() == "reader"


def test_one_use_writer_object_can_be_entered_twice():
    writer = use_writer()
    with writer:
        with writer:
            assert state.writer_depth() == 2
        assert state.writer_depth() == 1
    assert state.writer_depth() == 0


def test_it_works_as_a_decorator_and_nests_under_recursion():
    seen = []

    @use_writer()
    def countdown(n: int) -> None:
        seen.append((state.writer_depth(), read_alias()))
        if n:
            countdown(n - 1)

    countdown(2)
    assert seen == [(1, "default"), (2, "default"), (3, "default")]
    assert read_alias() == "reader"


def test_routing_state_is_isolated_between_threads():
    inside = threading.Barrier(2)
    results = {}

    def pinned_worker():
        with state.scope(), use_writer():
            state.note_write()
            inside.wait(timeout=10)  # both threads are now running at the same time
            results["pinned"] = read_alias()
            inside.wait(timeout=10)

    def plain_worker():
        with state.scope():
            inside.wait(timeout=10)
            results["plain"] = (read_alias(), state.writer_depth(), state.current().wrote)
            inside.wait(timeout=10)

    threads = [threading.Thread(target=pinned_worker), threading.Thread(target=plain_worker)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results == {"pinned": "default", "plain": ("reader", 0, False)}


def test_the_state_follows_a_request_across_sync_and_async_code():
    async def read_from_async_code():
        return await sync_to_async(read_alias)()

    with use_writer():
        assert async_to_sync(read_from_async_code)() == "default"
    assert async_to_sync(read_from_async_code)() == "reader"


def test_a_write_pins_only_its_own_scope():
    with state.scope():
        state.note_write()
        assert read_alias() == "default"
    assert read_alias() == "reader"


def test_a_reader_marked_down_sends_reads_to_the_writer():
    state.mark_down("reader", 60)
    try:
        assert read_alias() == "default"
    finally:
        state.mark_up("reader")
    assert read_alias() == "reader"


@pytest.mark.django_db(transaction=True)
def test_reads_inside_a_transaction_go_to_the_writer():
    assert Shipment.objects.all().db == "reader"
    with transaction.atomic():
        assert Shipment.objects.all().db == "default"
    assert Shipment.objects.all().db == "reader"
