"""manage.py dbcheck: one line per alias, exit 1 when the writer cannot take writes, no tracebacks."""

import json

import pytest

pytestmark = pytest.mark.cluster


def test_it_lists_both_servers_and_exits_0_when_the_writer_is_writable(live_app):
    result = live_app.manage("dbcheck", "--json")
    assert result.returncode == 0
    probes = {probe["alias"]: probe for probe in json.loads(result.stdout)}
    assert probes["default"]["role"] == "writable"
    assert probes["reader"]["role"] == "read-only"
    assert probes["reader"]["lag"] == "0 s"
    table = live_app.manage("dbcheck").stdout
    assert "default" in table and "writable" in table and "reader" in table and "read-only" in table


def test_it_says_when_replication_is_stopped(live_app):
    with live_app.replication_stopped():
        result = live_app.manage("dbcheck")
    assert result.returncode == 0
    assert "unknown (replication stopped)" in result.stdout


def test_it_exits_1_when_the_writer_is_read_only(live_app):
    with live_app.writer_read_only():
        result = live_app.manage("dbcheck", check=False)
    assert result.returncode == 1
    assert "the writer" in result.stderr and "read-only" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_an_unreachable_server_is_one_line_not_a_traceback(live_app):
    with live_app.endpoint_down(live_app.reader):
        reader_down = live_app.manage("dbcheck", check=False)
    assert reader_down.returncode == 0
    assert "unreachable" in reader_down.stdout
    writer_gone = live_app.manage("dbcheck", check=False, env={"DATABASE_URL": "mysql://phoenix:x@127.0.0.1:9/nothing"})
    assert writer_gone.returncode == 1
    assert "unreachable" in writer_gone.stdout
    assert "Traceback" not in writer_gone.stderr + writer_gone.stdout
