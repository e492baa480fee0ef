from datetime import UTC, datetime, timedelta

import pytest

from tracking import milestones as m

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_it_lists_every_public_milestone_in_the_table():
    assert set(m.TRANSITIONS) == set(m.MILESTONES)
    assert len(m.MILESTONES) == 12


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (m.LABEL_CREATED, m.PICKED_UP),
        (m.PICKED_UP, m.IN_TRANSIT),
        (m.IN_TRANSIT, m.AT_DESTINATION),
        (m.AT_DESTINATION, m.OUT_FOR_DELIVERY),
        (m.OUT_FOR_DELIVERY, m.DELIVERY_ATTEMPTED),
        (m.DELIVERY_ATTEMPTED, m.OUT_FOR_DELIVERY),
        (m.DELIVERY_ATTEMPTED, m.AVAILABLE_FOR_PICKUP),
        (m.AVAILABLE_FOR_PICKUP, m.DELIVERED),
        (m.RETURNING_TO_SENDER, m.RETURNED_TO_SENDER),
        (m.LABEL_CREATED, m.CANCELLED),
        (m.LOST, m.DELIVERED),
    ],
)
def test_it_moves_forward_along_the_table(current, new):
    assert m.next_milestone(current, T0, new, T0 + timedelta(hours=1)) == new


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (m.DELIVERED, m.IN_TRANSIT),
        (m.DELIVERED, m.OUT_FOR_DELIVERY),
        (m.OUT_FOR_DELIVERY, m.PICKED_UP),
        (m.IN_TRANSIT, m.LABEL_CREATED),
        (m.CANCELLED, m.PICKED_UP),
        (m.RETURNED_TO_SENDER, m.DELIVERED),
        (m.PICKED_UP, m.CANCELLED),
    ],
)
def test_it_never_moves_backwards_or_out_of_a_terminal_milestone(current, new):
    assert m.next_milestone(current, T0, new, T0 + timedelta(hours=1)) == current


def test_a_late_event_does_not_move_the_milestone_even_when_the_table_allows_it():
    # Delivery attempted at 12:00; the out-for-delivery scan from 08:00 arrives afterwards.
    assert m.next_milestone(m.DELIVERY_ATTEMPTED, T0, m.OUT_FOR_DELIVERY, T0 - timedelta(hours=4)) == (
        m.DELIVERY_ATTEMPTED
    )


def test_informational_codes_do_not_change_the_milestone():
    assert m.EVENT_CODES["note"] is None
    assert m.next_milestone(m.IN_TRANSIT, T0, None, T0 + timedelta(hours=1)) == m.IN_TRANSIT
