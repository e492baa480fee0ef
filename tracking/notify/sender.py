"""The worker's side of the outbox: claim what is due, send it, record the outcome.

Each outbox row moves ``pending -> claimed -> sending -> sent``. The claim is one short
transaction (``SELECT ... FOR UPDATE SKIP LOCKED``, then an update that stamps the worker id
and a lease), so two workers never take the same row. A row becomes ``sending`` in its own
commit just before the network exchange and ``sent`` right after it, so after a crash the
state says exactly what may have happened:

- ``claimed`` (lease expired or its worker restarted): certainly not sent; taken again.
- ``sending`` (same): the exchange may have happened. An e-mail becomes ``uncertain`` and is
  not sent again (at most once); a webhook is sent again with the same event id, which the
  receiver dedupes on (docs/notifications.md states the guarantee).

``now`` is the scheduler's clock (due rows, backoff, disabling); tests pass their own.
"""

import logging
import smtplib
import time
from collections import deque
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from tracking import sealing
from tracking.models import (
    EmailNotification,
    OutboxStatus,
    PhoneMessage,
    Subscription,
    WebhookDelivery,
    WebhookEndpoint,
)
from tracking.notify import emails, messaging, webhooks

logger = logging.getLogger(__name__)

# Delay before the 2nd, 3rd, ... attempt; the last one repeats until success or disabling.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
EMAIL_MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
DISABLE_AFTER = timedelta(days=1)
BATCH_SIZE = 50
MAX_BATCHES = 20
# A run claims for at most this long (then a follow-up run takes over), well inside the lease.
RUN_SECONDS = 60
# While lanes run, how often the run looks for newly due rows.
LANE_POLL_SECONDS = 0.5


def retry_delay(attempts: int) -> timedelta:
    """Return the wait after the ``attempts``-th failed attempt."""
    return RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]


@dataclass
class Summary:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    next_due: datetime | None = None
    errors: list[str] = field(default_factory=list)


def deliveries_run(*, worker: str, now: Callable[[], datetime] = timezone.now, on_claim=None) -> Summary:
    """Deliver everything due, in batches; return what happened and when to look again.

    E-mails go in batches from this thread; webhooks go in their lanes (``WebhookLanes``), one
    per endpoint, side by side, and the loop keeps claiming while lanes run, so deliveries that
    fall due during the run (another partner's, for instance) leave without waiting for a slow
    receiver. A run ends when nothing is due and no lane runs, or after ``RUN_SECONDS``: lanes
    then finish their attempt in flight and hand back what they had not started.

    ``on_claim(lease_until)`` is called inside each claim transaction (the task layer uses it
    to schedule a guard run at the lease's end, committed together with the claim).
    """
    summary = Summary()
    outbox_recover(now=now())
    lanes = WebhookLanes(worker=worker, now=now, summary=summary, on_claim=on_claim)
    ends = time.monotonic() + RUN_SECONDS
    batches = dict.fromkeys(CHANNELS, 0)
    try:
        while time.monotonic() < ends:
            sent_batch = False
            for channel in CHANNELS:
                if batches[channel] >= MAX_BATCHES:
                    continue
                rows = _claim(channel.model, worker=worker, now=now(), on_claim=on_claim, related=channel.related)
                if rows:
                    batches[channel] += 1
                    sent_batch = True
                    channel.send(rows, worker=worker, now=now, summary=summary)
            claimed = lanes.fill()
            if not sent_batch and not claimed and lanes.idle:
                break
            lanes.wait(0 if sent_batch else LANE_POLL_SECONDS)
    finally:
        lanes.close()
    summary.next_due = next_due()
    return summary


# --- Channels sent in batches from the run's thread -------------------------------------------


@dataclass(frozen=True)
class Channel:
    """An outbox model sent in batches by the run's own thread, at most once per row.

    ``send(rows, *, worker, now, summary)`` sends claimed rows through ``_start`` and
    ``_finish``; a row left ``sending`` by a crash becomes ``uncertain`` (never resent).
    E-mail is one; SMS or WhatsApp register the same way (``channel_register``).
    """

    name: str
    model: type
    send: Callable
    related: tuple[str, ...] = ()


CHANNELS: list[Channel] = []


def channel_register(name: str, model, send: Callable, *, related: tuple[str, ...] = ()) -> None:
    """Add a channel to every run: ``name`` for logs and the admin ("SMTP", "SMS"), its outbox
    model, its batch sender, and the relations its rows need (one query with the claim)."""
    CHANNELS.append(Channel(name=name, model=model, send=send, related=related))


def _outbox_models() -> list:
    return [channel.model for channel in CHANNELS] + [WebhookDelivery]


def outbox_recover(*, now: datetime, worker: str | None = None) -> int:
    """Release rows whose lease ran out (or, with ``worker``, every row that worker held).

    ``claimed`` rows go back to ``pending``; ``sending`` e-mails become ``uncertain``;
    ``sending`` webhooks go back to ``pending`` (resent with the same event id).
    """
    held = Q(lease_owner=worker) if worker else Q(lease_until__lte=now)
    released = 0
    with transaction.atomic():
        for model in _outbox_models():
            released += model.objects.filter(held, status=OutboxStatus.CLAIMED).update(
                status=OutboxStatus.PENDING, lease_owner="", lease_until=None
            )
        for channel in CHANNELS:
            released += channel.model.objects.filter(held, status=OutboxStatus.SENDING).update(
                status=OutboxStatus.UNCERTAIN,
                lease_owner="",
                lease_until=None,
                last_error=f"worker stopped during the {channel.name} exchange; not resent (at most once)",
            )
        released += WebhookDelivery.objects.filter(held, status=OutboxStatus.SENDING).update(
            status=OutboxStatus.PENDING, next_attempt_at=now, lease_owner="", lease_until=None
        )
    if released:
        logger.warning("notify outbox: released %d rows (worker=%s)", released, worker or "expired leases")
    return released


def next_due() -> datetime | None:
    """Return when the outbox next needs a worker: the next retry or the end of a lease."""
    times = []
    with transaction.atomic():  # read the writer: a replica may not have the latest rows yet
        for model in _outbox_models():
            found = model.objects.filter(status=OutboxStatus.PENDING).aggregate(at=Min("next_attempt_at"))["at"]
            leased = model.objects.filter(status__in=[OutboxStatus.CLAIMED, OutboxStatus.SENDING]).aggregate(
                at=Min("lease_until")
            )["at"]
            times += [t for t in (found, leased) if t is not None]
    return min(times) if times else None


def _claim(model, *, worker: str, now: datetime, on_claim, related=(), exclude: Q | None = None) -> list:
    lease_until = now + timedelta(seconds=settings.PHOENIX_NOTIFY_LEASE_SECONDS)
    with transaction.atomic():
        ids = list(
            model.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
                | Q(status=OutboxStatus.CLAIMED, lease_until__lte=now)
            )
            .exclude(exclude or Q(pk__in=[]))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:BATCH_SIZE]
        )
        if not ids:
            return []
        model.objects.filter(pk__in=ids).update(
            status=OutboxStatus.CLAIMED, lease_owner=worker, lease_until=lease_until
        )
        if on_claim:
            on_claim(lease_until)
        return list(model.objects.filter(pk__in=ids).select_related(*related, "event").order_by("next_attempt_at"))


def _guarded(send, row, *, worker: str, summary: Summary, **kwargs) -> None:
    """Run ``send`` for one row; a bug in one row fails that row, not the whole batch."""
    try:
        send(row, worker=worker, summary=summary, **kwargs)
    except Exception as exc:
        _failed_unexpectedly(row, exc, worker=worker, summary=summary)


def _failed_unexpectedly(row, exc: Exception, *, worker: str, summary: Summary) -> None:
    logger.error("notify %s %s: unexpected error", type(row).__name__, row.pk, exc_info=exc)
    type(row).objects.filter(
        pk=row.pk, lease_owner=worker, status__in=[OutboxStatus.CLAIMED, OutboxStatus.SENDING]
    ).update(status=OutboxStatus.FAILED, last_error=f"{type(exc).__name__}: {exc}"[:500], lease_owner="")
    summary.failed += 1


def _start(row, *, worker: str, now: datetime) -> bool:
    """Mark ``row`` as being sent, in its own commit; False when the lease was lost."""
    lease_until = now + timedelta(seconds=settings.PHOENIX_NOTIFY_LEASE_SECONDS)
    started = (
        type(row)
        .objects.filter(pk=row.pk, status=OutboxStatus.CLAIMED, lease_owner=worker)
        .update(status=OutboxStatus.SENDING, lease_until=lease_until, attempts=row.attempts + 1)
    )
    row.attempts += 1
    return bool(started)


def _finish(row, *, worker: str, **fields) -> None:
    fields.setdefault("lease_owner", "")
    fields.setdefault("lease_until", None)
    type(row).objects.filter(pk=row.pk, status=OutboxStatus.SENDING, lease_owner=worker).update(**fields)


def _set_aside(row, *, worker: str, status: str, reason: str) -> None:
    type(row).objects.filter(pk=row.pk, status=OutboxStatus.CLAIMED, lease_owner=worker).update(
        status=status, last_error=reason, lease_owner="", lease_until=None
    )


# --- WhatsApp and SMS: tracking/notify/messaging.py, on this module's lease helpers -----------

_PHONE_LEASE = messaging.Lease(start=_start, finish=_finish, set_aside=_set_aside, retry_delay=retry_delay)


def _send_phones(rows: list[PhoneMessage], *, worker: str, now, summary: Summary) -> None:
    """Send claimed WhatsApp/SMS messages (messaging.message_send: rules, fallback, at most once)."""
    senders = messaging.Senders()
    for row in rows:
        _guarded(
            messaging.message_send, row, worker=worker, now=now, summary=summary, lease=_PHONE_LEASE, senders=senders
        )


channel_register("WhatsApp/SMS", PhoneMessage, _send_phones, related=("subscription__shipment__destination_facility",))


# --- E-mail -----------------------------------------------------------------------------------


def _send_emails(rows: list[EmailNotification], *, worker: str, now, summary: Summary) -> None:
    connection = get_connection(fail_silently=False)
    try:
        for row in rows:
            _guarded(_send_email, row, connection=connection, worker=worker, now=now, summary=summary)
    finally:
        try:
            connection.close()
        except (OSError, smtplib.SMTPException):
            logger.warning("notify e-mail: closing the connection failed", exc_info=True)


def _send_email(row: EmailNotification, *, connection, worker: str, now, summary: Summary) -> None:
    subscription = row.subscription
    wanted = Subscription.Status.PENDING if row.key.startswith("confirm:") else Subscription.Status.ACTIVE
    if subscription.status != wanted:
        _set_aside(row, worker=worker, status=OutboxStatus.CANCELLED, reason=f"subscription {subscription.status}")
        return
    try:
        address = sealing.unseal(subscription.email_encrypted)
    except ValueError as exc:  # sealed under a secret key that is gone
        _set_aside(row, worker=worker, status=OutboxStatus.FAILED, reason=str(exc))
        summary.failed += 1
        return
    message = emails.email_message(row, address=address)
    if not _start(row, worker=worker, now=now()):
        return
    try:
        connection.send_messages([message])
    except (OSError, smtplib.SMTPException) as exc:
        # SMTP errors often quote the recipient; logs and the admin must not show it.
        error = f"{type(exc).__name__}: {exc}".replace(address, "<recipient>")[:500]
        permanent = _smtp_permanent(exc)
        if permanent or row.attempts >= EMAIL_MAX_ATTEMPTS:
            _finish(row, worker=worker, status=OutboxStatus.FAILED, last_error=error)
            summary.failed += 1
        else:
            _finish(
                row,
                worker=worker,
                status=OutboxStatus.PENDING,
                next_attempt_at=now() + retry_delay(row.attempts),
                last_error=error,
            )
            summary.retried += 1
        logger.warning("notify e-mail %s attempt %d failed: %s", row.pk, row.attempts, error)
        connection.close()
        return
    _finish(row, worker=worker, status=OutboxStatus.SENT, sent_at=now(), last_error="")
    summary.sent += 1
    logger.info("notify e-mail %s (%s) sent to subscription %s", row.pk, row.key, subscription.pk)


def _smtp_permanent(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _msg in exc.recipients.values())
    code = getattr(exc, "smtp_code", None)
    return isinstance(code, int) and code >= 500


channel_register("SMTP", EmailNotification, _send_emails, related=("subscription__shipment",))


# --- Webhooks: one lane per endpoint ------------------------------------------------------------


class WebhookLanes:
    """Webhook deliveries in lanes: one lane per endpoint, lanes side by side.

    A lane sends its endpoint's claimed deliveries one at a time, oldest first; up to
    PHOENIX_WEBHOOK_LANES lanes have a POST in flight at once, each bounded by the attempt's
    deadline (PHOENIX_WEBHOOK_TIMEOUT, wall clock). A failed attempt closes its lane for the
    run: the lane's other deliveries go back to the queue, due when the failed one is retried,
    so an endpoint that is down costs one attempt per retry, not one per delivery. An endpoint
    with a lane in this run is not claimed again until its lane is empty.

    Only the POST (``webhooks.webhook_post``, no database) runs in the pool's threads; claims,
    ``sending`` and outcomes are committed by the calling thread, on its own connection.
    """

    def __init__(self, *, worker: str, now: Callable[[], datetime], summary: Summary, on_claim):
        self.worker = worker
        self.now = now
        self.summary = summary
        self.on_claim = on_claim
        self.queued: dict[int, deque[WebhookDelivery]] = {}
        self.running: dict[Future, WebhookDelivery] = {}
        self.started = 0
        self.pool = ThreadPoolExecutor(max_workers=settings.PHOENIX_WEBHOOK_LANES, thread_name_prefix="webhook-lane")

    @property
    def idle(self) -> bool:
        return not self.running and not any(self.queued.values())

    def fill(self) -> int:
        """Claim due deliveries of endpoints without a lane; start idle lanes; return how many."""
        if self.started >= BATCH_SIZE * MAX_BATCHES:
            return 0
        busy = {row.endpoint_id for row in self.running.values()} | {pk for pk, rows in self.queued.items() if rows}
        rows = _claim(
            WebhookDelivery,
            worker=self.worker,
            now=self.now(),
            on_claim=self.on_claim,
            related=("endpoint",),
            exclude=Q(endpoint__in=busy),
        )
        for row in rows:
            self.queued.setdefault(row.endpoint_id, deque()).append(row)
        self._start_lanes()
        return len(rows)

    def wait(self, timeout: float) -> None:
        """Record the attempts that end within ``timeout`` seconds and move their lanes on."""
        if not self.running:
            return
        done, _pending = futures.wait(list(self.running), timeout=timeout, return_when=futures.FIRST_COMPLETED)
        for future in done:
            self._record(future)
        self._start_lanes()

    def close(self) -> None:
        """Hand back what no lane started, let the attempts in flight end, stop the threads."""
        waiting = [row.pk for rows in self.queued.values() for row in rows]
        self.queued.clear()
        if waiting:
            WebhookDelivery.objects.filter(pk__in=waiting, status=OutboxStatus.CLAIMED, lease_owner=self.worker).update(
                status=OutboxStatus.PENDING, lease_owner="", lease_until=None
            )
        for future in futures.as_completed(list(self.running)):
            self._record(future)
        self.pool.shutdown(wait=True)

    def _start_lanes(self) -> None:
        active = {row.endpoint_id for row in self.running.values()}
        for endpoint_id, rows in self.queued.items():
            while rows and endpoint_id not in active:
                row = rows.popleft()
                future = self._begin(row)
                if future is not None:
                    self.running[future] = row
                    active.add(endpoint_id)

    def _begin(self, row: WebhookDelivery) -> Future | None:
        """Commit ``sending`` for ``row`` and start its POST; None when it is not to be sent."""
        endpoint = row.endpoint
        try:
            if not endpoint.is_active:
                _set_aside(row, worker=self.worker, status=OutboxStatus.FAILED, reason="endpoint disabled")
                self.summary.failed += 1
                return None
            signing_secrets = webhooks.endpoint_secrets(endpoint, now=self.now())
            if not _start(row, worker=self.worker, now=self.now()):
                return None
        except Exception as exc:
            _failed_unexpectedly(row, exc, worker=self.worker, summary=self.summary)
            return None
        self.started += 1
        return self.pool.submit(
            webhooks.webhook_post,
            url=endpoint.url,
            signing_secrets=signing_secrets,
            body=row.payload,
            event_id=str(row.uuid),
        )

    def _record(self, future: Future) -> None:
        row = self.running.pop(future)
        try:
            outcome = future.result()
            if outcome.ok:
                _webhook_sent(row, outcome, worker=self.worker, now=self.now, summary=self.summary)
                return
            at = self.now()
            retry_at = at + retry_delay(row.attempts)
            rest = [other.pk for other in self.queued.pop(row.endpoint_id, ())]
            if rest:
                WebhookDelivery.objects.filter(
                    pk__in=rest, status=OutboxStatus.CLAIMED, lease_owner=self.worker
                ).update(status=OutboxStatus.PENDING, next_attempt_at=retry_at, lease_owner="", lease_until=None)
            _webhook_failed(row, outcome, worker=self.worker, now=lambda: at, summary=self.summary)
        except Exception as exc:
            _failed_unexpectedly(row, exc, worker=self.worker, summary=self.summary)


def _webhook_sent(row: WebhookDelivery, outcome: webhooks.Outcome, *, worker: str, now, summary: Summary) -> None:
    _finish(row, worker=worker, status=OutboxStatus.SENT, sent_at=now(), last_status_code=outcome.status, last_error="")
    WebhookEndpoint.objects.filter(pk=row.endpoint_id, failing_since__isnull=False).update(failing_since=None)
    summary.sent += 1
    logger.info("notify webhook %s sent to endpoint %s", row.uuid, row.endpoint_id)


def _webhook_failed(row: WebhookDelivery, outcome: webhooks.Outcome, *, worker: str, now, summary: Summary) -> None:
    at = now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=row.endpoint_id)
        if endpoint.failing_since is None:
            endpoint.failing_since = at
            endpoint.save(update_fields=["failing_since"])
        if endpoint.is_active and at - endpoint.failing_since >= DISABLE_AFTER:
            endpoint.is_active = False
            endpoint.disabled_at = at
            endpoint.save(update_fields=["is_active", "disabled_at"])
            logger.error(
                "notify webhook endpoint %s disabled after failing since %s", endpoint.pk, endpoint.failing_since
            )
        if endpoint.is_active:
            _finish(
                row,
                worker=worker,
                status=OutboxStatus.PENDING,
                next_attempt_at=at + retry_delay(row.attempts),
                last_status_code=outcome.status,
                last_error=outcome.error[:500],
            )
            summary.retried += 1
        else:
            _finish(
                row,
                worker=worker,
                status=OutboxStatus.FAILED,
                last_status_code=outcome.status,
                last_error=f"endpoint disabled; last error: {outcome.error}"[:500],
            )
            WebhookDelivery.objects.filter(endpoint=endpoint, status=OutboxStatus.PENDING).update(
                status=OutboxStatus.FAILED, last_error="endpoint disabled"
            )
            summary.failed += 1
    logger.warning("notify webhook %s attempt %d failed: %s", row.uuid, row.attempts, outcome.error)
