"""The cutover surface: the maintenance switch read afresh by every test, and a frozen site."""

import pytest

from tracking.cutover.maintenance import maintenance_forget, maintenance_switch

MESSAGE = "We are moving to a new database until 11:00; tracking still works."


@pytest.fixture(autouse=True)
def fresh_switch_read():
    """Each test reads the switch afresh (its row is rolled back after every test)."""
    maintenance_forget()
    yield
    maintenance_forget()


@pytest.fixture
def frozen(db):
    """Turn the write freeze on, with MESSAGE, as ``manage.py maintenance on`` does."""
    maintenance_switch(enabled=True, message=MESSAGE, changed_by="test")
