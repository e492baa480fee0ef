"""The change-list benchmark keeps working (run at a tiny scale; nothing is asserted about speed)."""

import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db(databases="__all__")


def test_the_benchmark_runs_and_rewrites_only_its_own_section(tmp_path):
    report = tmp_path / "performance.md"
    report.write_text("# Performance\n\n<!-- section:other -->\nkept\n<!-- /section:other -->\n")
    out = io.StringIO()
    call_command("bench_admin", "--ensure-shipments", "300", "--runs", "2", "--write", str(report), stdout=out)
    call_command("bench_admin", "--runs", "1", "--write", str(report), stdout=out)
    text = report.read_text()
    assert "<!-- section:other -->\nkept\n<!-- /section:other -->" in text
    assert text.count("<!-- section:admin-changelist -->") == 1
    assert text.count("<!-- /section:admin-changelist -->") == 1
    for row in ("floor: `SELECT 1`", "floor: admin index page", "change list, first page", "search: recipient phone"):
        assert f"| {row}" in text
    assert "300 shipments" in text
