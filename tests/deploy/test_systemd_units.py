"""The systemd units parse cleanly with systemd's own checker (systemd-analyze verify)."""

import re
import shutil
import subprocess

from tests.deploy.conftest import REPO

UNITS = REPO / "deploy" / "systemd"
# The only complaint allowed here: the AMI's virtualenv does not exist on this machine.
MISSING_ON_THIS_MACHINE = re.compile(
    r"^[\w.-]+: Command /opt/phoenix/\S+ is not executable: No such file or directory$"
)


def _verify(directory) -> list[str]:
    units = sorted(str(p) for p in directory.iterdir() if p.suffix in (".service", ".timer"))
    result = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if line.strip() and not MISSING_ON_THIS_MACHINE.match(line)]


def test_every_unit_parses_without_warnings():
    assert list(UNITS.glob("*.service")), "no units found"
    assert _verify(UNITS) == []


def test_the_check_catches_a_misspelt_option(tmp_path):
    # Proves the test above can fail: the same units with one typo are reported.
    for unit in UNITS.iterdir():
        shutil.copy(unit, tmp_path / unit.name)
    broken = tmp_path / "phoenix.service"
    broken.write_text(broken.read_text().replace("ProtectSystem=strict", "ProtectSystem=stric"))
    problems = _verify(tmp_path)
    assert any("ProtectSystem" in line or "protect system" in line for line in problems), problems
