"""Settings of the live test app (tests/live.py): production settings plus test-only views."""

from phoenix.settings import *  # noqa: F403

ROOT_URLCONF = "tests.live_urls"
