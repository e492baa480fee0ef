"""ReadWriteRouter: writes to the writer (`default`), reads to the `reader` unless fresh data is owed.

The semantics are docs/database.md, Routing semantics. A read goes to the writer when:

- no `reader` alias is configured;
- it runs inside ``use_writer()``;
- a transaction is open on the writer (its reads must see its own uncommitted rows);
- the request or task already wrote, or the client holds a valid pin (cookie or server-side);
- it reads a model of an app in ``WRITER_ONLY_APPS`` (sessions: a login must survive lag);
- the reader is marked down after a failure;
- the reader is shunned for replica lag beyond PHOENIX_MAX_REPLICA_LAG (phoenix/db/lag.py);
- the ``instance`` hint says the object came from the writer (related rows stay as fresh).

The backend (phoenix.db.backends.mysql) notices writes and reader failures; the router only
decides. An ``instance`` hint from the reader never sends a pinned read to the stale reader.
"""

from django.conf import settings
from django.db import connections

from phoenix.db import lag, state
from phoenix.db.state import READER, WRITER

# Apps whose rows are always read from the writer. Sessions: a staff member who has just logged
# in must not be logged out by replication lag once the pin expires; one primary-key read per
# request that carries a session cookie. django_tasks_database (the app label of the
# django_tasks_db package): the worker claims its queue with SELECT ... FOR UPDATE inside a
# transaction on the alias the queue is read from, which must be the writer. The names are app
# labels, not package names; phoenix_db.E001 refuses one that no installed app has.
WRITER_ONLY_APPS = frozenset({"sessions", "django_tasks_database"})


def writer_in_transaction() -> bool:
    """Return True when a transaction is open on the writer (without opening a connection)."""
    writer = connections[WRITER]
    return writer.in_atomic_block or (writer.connection is not None and not writer.autocommit)


def read_alias(model=None, instance=None) -> str:
    """Return the alias the next read should use, and record why in the request state."""
    current = state.current()
    if READER not in settings.DATABASES:
        reason = state.NO_READER
    elif state.writer_depth():
        reason = state.USE_WRITER
    elif writer_in_transaction():
        reason = state.TRANSACTION
    elif current.pins:
        reason = min(current.pins)  # deterministic: cookie < server_pin < wrote
    elif model is not None and model._meta.app_label in WRITER_ONLY_APPS:
        reason = state.SESSION
    elif instance is not None and getattr(instance._state, "db", None) == WRITER:
        reason = "instance"
    elif state.is_down(READER):
        reason = state.READER_DOWN
    elif lag.reader_shunned():
        reason = state.READER_LAG
    else:
        current.note(READER, "replica")
        return READER
    current.note(WRITER, reason)
    return WRITER


class ReadWriteRouter:
    def db_for_read(self, model, **hints):
        return read_alias(model, hints.get("instance"))

    def db_for_write(self, model, **hints):
        return WRITER

    def allow_relation(self, obj1, obj2, **hints):
        if {obj1._state.db, obj2._state.db} <= {WRITER, READER, None}:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == WRITER
