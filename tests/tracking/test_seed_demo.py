import io
import re
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from tracking import milestones, numbers
from tracking.models import Contact, Shipment, TrackingEvent

pytestmark = pytest.mark.django_db


def _seed(count: int, *extra: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--shipments", str(count), "--seed", "7", "--quiet", *extra, stdout=out)
    return out.getvalue()


def test_it_seeds_shipments_with_contacts_and_3_to_12_events_each():
    output = _seed(600)
    assert Shipment.objects.count() == 600
    assert Contact.objects.filter(role="recipient").count() == 600
    assert Contact.objects.filter(role="sender").count() == 600
    counts = Shipment.objects.annotate(n=Count("events")).values_list("n", flat=True)
    assert min(counts) >= 3 and max(counts) <= 12
    assert set(Shipment.objects.values_list("milestone", flat=True)) == set(milestones.MILESTONES)
    assert Shipment.objects.filter(exception_open=True).exists()
    assert "Seeded 600 shipments" in output


def test_it_prints_tracking_numbers_that_exist_and_pass_the_check_digit():
    output = _seed(100)
    printed = re.findall(r"QP\d{2} \d{4} \d{4} \d{2}", output)
    assert len(printed) >= 5
    for shown in printed:
        assert Shipment.objects.filter(tracking_number=numbers.parse(shown)).exists()


def test_seeded_state_is_what_replaying_the_events_gives():
    _seed(150)
    for shipment in Shipment.objects.all()[:150]:
        state = SimpleNamespace(
            milestone="label_created",
            milestone_at=None,
            exception_open=False,
            exception_reason="",
            exception_at=None,
            delivered_at=None,
            last_event_at=None,
        )
        for event in TrackingEvent.objects.filter(shipment=shipment).order_by("occurred_at", "id"):
            milestones.apply_event(state, event)
        assert (state.milestone, state.exception_open, state.delivered_at) == (
            shipment.milestone,
            shipment.exception_open,
            shipment.delivered_at,
        )


def test_if_empty_adds_nothing_to_an_existing_database():
    _seed(20)
    output = _seed(50, "--if-empty")
    assert Shipment.objects.count() == 20
    assert "already there" in output


@pytest.mark.django_db(transaction=True)
def test_workers_seed_the_same_shape_in_parallel_without_colliding():
    # Forked processes write through their own connections, so the rows must be committed
    # (transaction=True) for this test to see them.
    _seed(30)
    first = Shipment.objects.order_by("-id").values_list("id", flat=True).first()
    output = _seed(25_000, "--workers", "2")
    assert "Seeded 25,000 shipments" in output
    added = Shipment.objects.filter(id__gt=first)
    assert added.count() == 25_000
    assert sorted(added.values_list("id", flat=True)) == list(range(first + 1, first + 25_001))
    assert Shipment.objects.values("tracking_number").distinct().count() == 25_030
    assert Contact.objects.filter(shipment__in=added).count() == 50_000
    assert TrackingEvent.objects.filter(shipment__in=added).values("shipment").distinct().count() == 25_000
    for number in list(added.values_list("tracking_number", flat=True)[:200]):
        assert numbers.parse(number) == number


def test_workers_must_be_between_1_and_16():
    with pytest.raises(CommandError, match="--workers"):
        _seed(10, "--workers", "0")
