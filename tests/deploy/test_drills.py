"""Fault drills 1, 3 and 5 at a reduced load on a real HA stack (deploy/local/drills.py --quick).

The stack is the real thing: two MariaDB servers with GTID replication, HAProxy as the cluster
and reader endpoints and as the ALB, two gunicorn instances. No timing is asserted (the machine
is shared); the seconds until writes resume are reported in docs/reliability.md by `make drills`.
"""

import pytest

from tests.deploy.drillrun import run_drills

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def drills(tmp_path_factory) -> dict:
    result = run_drills(tmp_path_factory.mktemp("drills") / "drills.json", "--quick")
    assert set(result) == {"reader", "failover", "lag"}
    return result


def test_it_puts_real_load_on_the_stack_in_every_drill(drills):
    for name, figures in drills.items():
        assert figures["gets"] > 50, name
        assert figures["writes_acknowledged"] > 10, name
        assert figures["staff_writes"] > 0, name


def test_it_loses_and_duplicates_no_acknowledged_write(drills):
    for name, figures in drills.items():
        assert figures["writes_lost"] == 0, (name, figures["examples"])
        assert figures["writes_duplicated"] == 0, (name, figures["examples"])
        assert figures["replica_missing"] == 0, name


def test_it_serves_every_get_while_the_reader_is_down(drills):
    figures = drills["reader"]
    assert figures["failed_gets"] == 0, (figures["failed_get_statuses"], figures["examples"])


def test_writes_succeed_on_the_new_writer_after_failover_and_failback(drills):
    figures = drills["failover"]
    # Two moves of the cluster endpoint, and acknowledged writes after each of them, from the
    # same gunicorn processes (the drill never restarts them).
    assert len(figures["resume_seconds"]) == 2
    assert all(seconds is not None for seconds in figures["resume_seconds"])


def test_staff_and_partners_read_their_own_writes_while_the_replica_lags(drills):
    figures = drills["lag"]
    assert figures["own_reads"] > 0
    assert figures["stale_own_reads"] == 0, figures["examples"]
    # The lag was real: the replica lacked events when its SQL thread started again. (Another
    # client's reads mostly stay fresh: the lag-aware reader shuns a stopped replica within a
    # second, so control_missed counts only the reads of that first second.)
    assert figures["replica_behind"] > 0
