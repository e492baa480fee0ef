"""Background tasks (django-tasks, database backend; the worker is ``manage.py db_worker``).

One task, ``deliver_notifications``, drains the outbox. It is enqueued in the same transaction
that records what is owed, again at each claim for the end of the lease (a guard that
survives the worker being killed), and at the time of the next retry.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks.base import DEFAULT_TASK_PRIORITY
from django_tasks_db.models import DBTaskResult

from tracking.notify import sender

logger = logging.getLogger(__name__)

TASK_PATH = "tracking.tasks.deliver_notifications"
# Guards run at a lower priority, which also tells them apart: a follow-up never reuses a
# guard, because the run that enqueued the guard deletes it when its batch completes.
GUARD_PRIORITY = -1


@task(takes_context=True)
def deliver_notifications(context) -> dict:
    """Deliver everything due; schedule the next run when something is still owed."""
    worker = context.task_result.worker_ids[-1]
    guards: list[str] = []
    summary = sender.deliveries_run(
        worker=worker, on_claim=lambda until: guards.append(delivery_enqueue(until, guard=True))
    )
    # The batches finished: their guards are not needed. A killed worker leaves them in place.
    DBTaskResult.objects.filter(pk__in=guards, status=TaskResultStatus.READY).delete()
    if summary.next_due is not None:
        delivery_enqueue(max(summary.next_due, timezone.now()), reuse=True)
    return {"sent": summary.sent, "retried": summary.retried, "failed": summary.failed}


def delivery_enqueue(run_after: datetime | None = None, *, reuse: bool = False, guard: bool = False) -> str:
    """Enqueue a delivery run in the caller's transaction; return the task id.

    With ``reuse``, a run already waiting for about the same time serves instead (for
    follow-ups only: a run that is about to start may miss rows committed after its claim).
    """
    if reuse and run_after is not None:
        with transaction.atomic():  # read the writer: a replica may lag behind
            existing = (
                DBTaskResult.objects.filter(
                    task_path=TASK_PATH,
                    status=TaskResultStatus.READY,
                    priority=DEFAULT_TASK_PRIORITY,
                    run_after__lte=run_after,
                    run_after__gte=run_after - sender.RETRY_DELAYS[0],
                )
                .values_list("pk", flat=True)
                .first()
            )
        if existing:
            return str(existing)
    options = {"run_after": run_after} if run_after is not None else {}
    if guard:
        options["priority"] = GUARD_PRIORITY
    task_to_run = deliver_notifications.using(**options) if options else deliver_notifications
    return str(task_to_run.enqueue().id)
