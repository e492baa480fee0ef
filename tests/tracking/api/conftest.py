"""The partner API's clients: anonymous, a partner with its token, and throttle rates per test."""

import copy

import pytest

from tests import factories
from tests.tracking.api.support import ApiClient


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
