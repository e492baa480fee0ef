"""The ingest benchmark's code runs (at a tiny scale; nothing is asserted about speed)."""

import importlib.util
from pathlib import Path

import pytest

from tracking.models import TrackingEvent

# The floor commits on the raw connection, so the test runs outside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = Path(__file__).resolve().parents[2] / "deploy/local/bench_api_ingest.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_api_ingest", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_measures_the_api_and_the_floor_and_writes_its_section(tmp_path):
    bench = _bench()
    figures = bench.run(events=30, batch=10, shipments=5)
    assert figures["events"] == 30
    assert TrackingEvent.objects.filter(partner__name__startswith="bench api", source="api").count() == 30
    assert TrackingEvent.objects.filter(partner__name__startswith="bench floor").count() == 30

    performance = tmp_path / "performance.md"
    performance.write_text("# Performance\n\n<!-- section:other -->\nkept\n<!-- /section:other -->\n")
    bench.write_section(performance, bench.render(figures, "bench"))
    bench.write_section(performance, bench.render(figures, "bench again"))
    text = performance.read_text()
    assert "kept" in text
    assert text.count("<!-- section:api-ingest -->") == 1
    assert "bench again" in text and "| POST /api/v1/events |" in text
