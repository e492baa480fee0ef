"""The quickstart of docs/api.md, run as written against a live server and its worker.

The shell blocks run in bash with the real curl, the receiver block runs as its own Python
process on loopback; the only changes are the values of the three ``export`` lines (this
server, a sandbox token made with ``create_partner --sandbox``, the receiver's loopback URL).
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.live import LiveApp
from tests.tracking.notify.support import wait_for

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "api.md"
EXPORTS = ("PHOENIX", "TOKEN", "RECEIVER_URL")


def quickstart_blocks() -> list[tuple[str, str]]:
    """Return the (language, code) of each fenced block of the quickstart section, in order."""
    text = DOC.read_text()
    section = text[text.index("## Quickstart") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```(sh|python)\n(.*?)```", section, flags=re.S)


@pytest.fixture
def live(tmp_path):
    (tmp_path / "app").mkdir()
    app = LiveApp.start(tmp_path / "app", extra_env={"PHOENIX_WEBHOOK_ALLOW_LOOPBACK": "1"})
    workers = []
    try:
        app.manage("seed_demo", "--shipments", "1")  # facilities for the sandbox's shipments
        env = app.env
        with (tmp_path / "worker.log").open("wb") as log:
            workers.append(
                subprocess.Popen(
                    [sys.executable, str(REPO / "manage.py"), "db_worker", "--worker-id", "quickstart"]
                    + ["--interval", "0.2", "--no-startup-delay", "--no-reload"],
                    env=env,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        yield app
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(30)
        app.stop()


def test_the_quickstart_reaches_a_verified_webhook_as_written(live, tmp_path):
    blocks = quickstart_blocks()
    assert [language for language, _code in blocks] == ["sh", "python", "sh", "sh", "sh"]
    created = live.manage("create_partner", "--sandbox", "Tienda Ejemplo (pruebas)").stdout
    token = re.search(r"phxt_\S+", created).group(0)

    from deploy.local.lab.processes import free_port

    port = free_port()
    work = tmp_path / "shop"
    work.mkdir()
    (work / "receiver.py").write_text(blocks[1][1])
    received = (work / "receiver.out").open("wb")
    receiver = subprocess.Popen(
        [sys.executable, "receiver.py", str(port)], cwd=work, stdout=received, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: _listening(port), "the receiver to listen")
        values = {"PHOENIX": live.base_url, "TOKEN": token, "RECEIVER_URL": f"http://127.0.0.1:{port}/hooks"}
        script = "\n".join(code for language, code in blocks if language == "sh")
        for name in EXPORTS:
            assert re.search(rf"^export {name}=", script, flags=re.M), name
            script = re.sub(rf"^export {name}=.*$", f"export {name}={values[name]}", script, flags=re.M)
        path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
        run = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=work,
            env={"PATH": path, "HOME": str(work)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        answers = run.stdout
        assert '{"webhooks":[]}' in answers
        assert '"delivered":true' in answers and '"status_code":200' in answers
        assert answers.count('"step":') == 7 and '"steps_left":0' in answers
        assert answers.rstrip().endswith("}") and '"milestone":"delivered"' in answers.splitlines()[-1]

        def lines():
            return (work / "receiver.out").read_text().splitlines()

        # The ping at once, then the worker's seven deliveries, every one verified.
        wait_for(lambda: len([line for line in lines() if line.startswith("verified tracking.")]) == 7, "7 webhooks")
        verified = lines()
        assert verified[0] == "verified webhook.ping - -"
        milestones = [line.split()[-1] for line in verified[1:] if line.startswith("verified tracking.")]
        assert sorted(milestones) == sorted(
            ["picked_up", "in_transit", "out_for_delivery", "delivery_attempted", "delivery_attempted"]
            + ["out_for_delivery", "delivered"]
        )
        assert all(line.startswith("verified ") for line in verified)  # nothing failed the check
    finally:
        receiver.terminate()
        receiver.wait(10)
        received.close()


def _listening(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        time.sleep(0.05)
        return False
    return True
