"""Cortex-M4 (mps2-an386) and Cortex-M55 (mps3-an547) runs in QEMU: outputs equal hwq.ir.run, per-layer
instruction counts (checked against QEMU's one-instruction-per-block trace), stack high-water mark."""

from __future__ import annotations

import re
import subprocess

import pytest

from hwq.sim.mcurun import build, count_segments, symbol_addresses
from hwq.sim.verify import verify
from tests.mcu import handmodel
from tests.mcu.conftest import need_tool

MACHINES = {"cortex-m4": "mps2-an386", "cortex-m55": "mps3-an547"}


@pytest.fixture(autouse=True)
def _tools():
    for tool in ("make", "arm-none-eabi-gcc", "arm-none-eabi-nm", "qemu-system-arm"):
        need_tool(tool)


@pytest.mark.parametrize("target", list(MACHINES))
@pytest.mark.parametrize("single", [False, True], ids=["double", "single"])
def test_qemu_run_equals_the_interpreter(tmp_path, target, single):
    out = handmodel.write(tmp_path / "m", handmodel.graph(single, seed=3))
    report = verify("mcu", out, vectors=30, target=target, cache_dir=tmp_path / "cache")
    assert (report.vectors, report.mismatches) == (30, 0)
    extra = report.extra
    layers = extra["layer_instructions"]
    assert len(layers) == 3  # conv, pool, fc: one count per HWQ_PROFILE_MARK
    # the 3x3 conv over 8x8x1 -> 4 channels is 2,304 MACs: at least one instruction each, and it dominates
    assert 2304 < layers[0] < 100 * 2304 and layers[0] > layers[1] and layers[0] > layers[2]
    assert extra["total_instructions"] == sum(layers) + extra["prologue_instructions"]
    assert 100 < extra["stack_bytes"] < 65536 and extra["arena_bytes"] == 320
    assert extra["text_bytes"] > 1000


@pytest.mark.parametrize("target", list(MACHINES))
def test_block_counts_equal_single_instruction_trace(tmp_path, target):
    """The fast count (one log line per translated block) equals QEMU -singlestep (one per instruction),
    including Cortex-M55 low-overhead loops that QEMU's disassembler prints as two halves."""
    out = handmodel.write(tmp_path / "m", handmodel.graph(False))
    program, _ = build(out, target, single=False, profile=True, cache_dir=tmp_path / "cache")
    (tmp_path / "inputs.bin").write_bytes(bytes(range(64)))
    qemu = [
        "qemu-system-arm",
        "-M",
        MACHINES[target],
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        str(program),
    ]
    subprocess.run([*qemu, "-d", "in_asm,exec,nochain", "-D", "tb.log"], cwd=tmp_path, check=True, timeout=300)
    subprocess.run([*qemu, "-d", "exec,nochain", "-singlestep", "-D", "ss.log"], cwd=tmp_path, check=True, timeout=300)
    addr = symbol_addresses(program)
    fast = [s["instructions"] for s in count_segments(tmp_path / "tb.log", addr)[0]]
    marks, n = [], 0
    for line in open(tmp_path / "ss.log"):
        m = re.match(r"Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/", line)
        if m:
            if int(m[1], 16) in addr.values():
                marks.append(n)
            n += 1
    exact = [b - a for a, b in zip(marks, marks[1:])]
    assert fast == exact and len(fast) == 4  # start->mark0, three layers
