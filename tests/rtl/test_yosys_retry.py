"""``rtl.tools.run_yosys``: a crash of yosys's ABC subprocess is retried; any other failure is not."""

from __future__ import annotations

import sys

from hwq.rtl.tools import run_yosys

_FAKE = """
import sys
from pathlib import Path
count = Path(sys.argv[1])
n = int(count.read_text()) if count.exists() else 0
count.write_text(str(n + 1))
if n < int(sys.argv[2]):
    print(sys.argv[3], file=sys.stderr)
    sys.exit(1)
print("ok")
"""
ABC = (
    'ERROR: ABC: execution of command ""berkeley-abc" -s -f /tmp/yosys-abc-x/abc.script 2>&1" failed: return code 134.'
)


def _run(tmp_path, fails: int, message: str):
    script = tmp_path / "fake_yosys.py"
    script.write_text(_FAKE)
    count = tmp_path / "count"
    p = run_yosys([sys.executable, str(script), str(count), str(fails), message], timeout=60)
    return p, int(count.read_text())


def test_an_abc_crash_is_run_again(tmp_path):
    p, runs = _run(tmp_path, 1, ABC)
    assert (p.returncode, p.stdout.strip(), runs) == (0, "ok", 2)


def test_a_design_error_is_not_run_again(tmp_path):
    p, runs = _run(tmp_path, 1, "ERROR: Module `hwq_top' not found!")
    assert (p.returncode, runs) == (1, 1)


def test_a_crash_every_time_is_reported_after_three_runs(tmp_path):
    p, runs = _run(tmp_path, 9, ABC)
    assert p.returncode == 1 and runs == 3 and "return code 134" in p.stderr
