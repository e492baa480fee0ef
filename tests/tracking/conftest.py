import copy

import pytest
from django.core.cache import cache

from tests import factories
from tests.tracking.apitools import ApiClient


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Throttle counters live in the cache; every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def anonymous() -> ApiClient:
    return ApiClient()


@pytest.fixture
def partner_and_client(db):
    partner, key = factories.partner_token()
    return partner, ApiClient(key)


@pytest.fixture
def rates(settings):
    """Set throttle rates for one test: ``rates(partner="2/minute")``."""

    def set_rates(**values):
        config = copy.deepcopy(settings.REST_FRAMEWORK)
        config["DEFAULT_THROTTLE_RATES"].update(values)
        settings.REST_FRAMEWORK = config

    return set_rates
