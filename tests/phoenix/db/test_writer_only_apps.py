"""WRITER_ONLY_APPS: the apps always read from the writer are named by their real app labels."""

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import router
from django_tasks_db.models import DBTaskResult

from phoenix.db import router as phoenix_router
from phoenix.db.apps import check_writer_only_apps
from tracking.models import Shipment

needs_reader = pytest.mark.skipif("reader" not in settings.DATABASES, reason="needs DATABASE_READER_URL")


@needs_reader
def test_the_task_queue_is_read_from_the_writer_when_a_reader_is_configured():
    # The worker opens its claiming transaction on DBTaskResult.objects.db: it must be the writer.
    assert router.db_for_read(DBTaskResult) == "default"
    assert DBTaskResult.objects.db == "default"
    assert router.db_for_read(Shipment) == "reader"  # ordinary reads still go to the replica


def test_every_writer_only_app_is_an_installed_app_label():
    assert check_writer_only_apps(None) == []


def test_the_check_refuses_a_name_that_is_no_app_label(monkeypatch):
    # django_tasks_db is the package; its app label is django_tasks_database.
    monkeypatch.setattr(phoenix_router, "WRITER_ONLY_APPS", frozenset({"sessions", "django_tasks_db"}))
    errors = check_writer_only_apps(None)
    assert [error.id for error in errors] == ["phoenix_db.E001"]
    assert "'django_tasks_db'" in errors[0].msg and "django_tasks_database" in errors[0].hint
    with pytest.raises(SystemCheckError, match="phoenix_db.E001"):
        call_command("check")
