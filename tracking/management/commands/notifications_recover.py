from django.core.management.base import BaseCommand
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from tracking.notify import sender
from tracking.tasks import TASK_PATH, delivery_enqueue


class Command(BaseCommand):
    help = (
        "Run before a notifications worker starts (systemd ExecStartPre): release the outbox rows "
        "and tasks a previous process with the same --worker-id held, and queue a delivery run "
        "when anything is owed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--worker-id", required=True, help="The id given to `db_worker --worker-id`.")
        parser.add_argument("--dry-run", action="store_true", help="Report what is owed, change nothing.")

    def handle(self, *, worker_id: str, dry_run: bool, **options):
        if dry_run:
            self.stdout.write(f"next delivery due: {sender.next_due() or 'nothing owed'}")
            return
        released = sender.outbox_recover(now=timezone.now(), worker=worker_id)
        # The process that ran these tasks is gone: db_worker never revisits RUNNING tasks.
        stale = [
            result
            for result in DBTaskResult.objects.filter(task_path=TASK_PATH, status=TaskResultStatus.RUNNING)
            if result.worker_ids and result.worker_ids[-1] == worker_id
        ]
        for result in stale:
            result.set_failed(RuntimeError(f"worker {worker_id} restarted while running this task"))
        owed = sender.next_due()
        if owed is not None:
            delivery_enqueue()
        self.stdout.write(
            f"released {released} outbox rows and {len(stale)} tasks of worker {worker_id}; "
            f"{'a delivery run is queued' if owed else 'nothing owed'}"
        )
