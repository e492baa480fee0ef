"""Idempotency-Key on the API's creating POSTs: a retry gets the first answer, never a second copy.

The protocol is insert-first. Inside the transaction that creates, the key's row is inserted
before anything else, so a concurrent retry with the same key waits on the unique index until
that transaction ends, then fails to insert and replays the stored answer. A key reused with a
different body is refused (422). Keys are per partner. See docs/api.md.
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from rest_framework.response import Response

from tracking.api.errors import ApiError
from tracking.models import IdempotencyKey, Partner
from tracking.services import WRITER

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,100}")  # printable ASCII, no spaces


@dataclass(frozen=True)
class Idempotency:
    """One request's key (or None: no header) and the hash of its body."""

    partner: Partner
    key: str | None
    request_hash: str

    @classmethod
    def of(cls, request, *, partner: Partner, data) -> "Idempotency":
        """Return the request's idempotency; raise ApiError (400) for a malformed key."""
        key = request.headers.get(HEADER)
        if key is not None and not KEY_PATTERN.fullmatch(key):
            message = "Use 1 to 100 printable ASCII characters without spaces."
            raise ApiError(400, "invalid", message, {HEADER: [message]})
        body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return cls(partner=partner, key=key, request_hash=hashlib.sha256(body).hexdigest())

    def replay(self) -> Response | None:
        """Return the stored answer for a key already used, or None (one query on the writer)."""
        if self.key is None:
            return None
        record = IdempotencyKey.objects.using(WRITER).filter(partner=self.partner, key=self.key).first()
        if record is None:
            return None
        if record.request_hash != self.request_hash:
            message = f"This {HEADER} was already used with a different request body; use a new key."
            raise ApiError(422, "idempotency_key_reused", message, {HEADER: [message]})
        return Response(record.response_body, status=record.status_code, headers={"Idempotent-Replayed": "true"})

    def run(self, create: Callable[[], dict], *, status: int) -> Response:
        """Call ``create`` in a transaction on the writer, at most once per key; return its answer."""
        try:
            with transaction.atomic(using=WRITER):
                record = None
                if self.key is not None:
                    # Inserted first: a concurrent retry with the same key waits on the unique
                    # index until this transaction ends, then replays what it stored.
                    record = IdempotencyKey.objects.create(
                        partner=self.partner,
                        key=self.key,
                        request_hash=self.request_hash,
                        status_code=status,
                        response_body={},
                    )
                body = create()
                if record is not None:
                    record.response_body = body
                    record.save(update_fields=["response_body"])
        except IntegrityError:
            replay = self.replay()
            if replay is None:
                raise
            return replay
        return Response(body, status=status)
