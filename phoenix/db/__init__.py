"""Read/write routing for an Aurora writer + reader pair (docs/database.md).

from phoenix.db import use_writer        # reads inside go to the writer (nestable)
from phoenix.db.pinning import pin_key   # server-side read-your-writes for API clients
"""

from phoenix.db.state import use_writer

__all__ = ["use_writer"]
