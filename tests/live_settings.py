"""Settings of the live test app (tests/live.py): production settings plus test-only views."""

from phoenix.settings import *  # noqa: F403

ROOT_URLCONF = "tests.live_urls"

# The cluster tests flip the writer read-only or stop it and read /readyz at once: no cached probe.
PHOENIX_READYZ_CACHE_SECONDS = 0
