"""cocotb 2.x test benches for the Verilog primitives in rtl/primitives (run by tests/rtl/test_primitives.py).

Each test drives random valid/ready (or clock-enable) patterns, models the primitive in Python, and
ends asserting zero errors and an empty expected queue. The toplevel is the primitive itself.
"""

from __future__ import annotations

import os
import random
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer


def _uint(value) -> int:
    """Unsigned integer of a Logic/LogicArray value (raises on X/Z)."""
    return int(str(value), 2)


async def _reset(dut) -> None:
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


@cocotb.test()
async def skid_buffer_stream(dut):
    """hwq_skid_buffer: every beat arrives once, in order, under random gaps and back-pressure; ready is a
    register (never depends on m_axis_tready in the same cycle); full throughput without back-pressure."""
    width = int(os.environ.get("HWQ_PRIM_WIDTH", "8"))
    rng = random.Random(int(os.environ.get("HWQ_PRIM_SEED", "1")))
    n = int(os.environ.get("HWQ_PRIM_BEATS", "2000"))
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.m_axis_tready.value = 0
    await _reset(dut)
    beats = [rng.getrandbits(width) for _ in range(n)]
    expected: deque = deque()
    errors: list[str] = []
    got = 0
    sent = 0
    valid = False
    cycle = 0
    phase_free = n // 2  # second half: no gaps, no back-pressure
    fired_free = []
    while got < n and cycle < 20 * n:
        free = sent >= phase_free
        if not valid and sent < n and (free or rng.random() < 0.6):
            valid = True
            dut.s_axis_tdata.value = beats[sent]
        dut.s_axis_tvalid.value = int(valid)
        ready = free or rng.random() < 0.5
        dut.m_axis_tready.value = int(ready)
        await FallingEdge(dut.clk)
        ready_before = bool(dut.s_axis_tready.value)
        # flip m_axis_tready: a registered s_axis_tready must not follow it within the cycle
        dut.m_axis_tready.value = int(not ready)
        await Timer(1, unit="ns")
        if bool(dut.s_axis_tready.value) != ready_before:
            errors.append(f"cycle {cycle}: s_axis_tready follows m_axis_tready combinationally")
        dut.m_axis_tready.value = int(ready)
        await Timer(1, unit="ns")
        s_fire = valid and ready_before
        m_fire = ready and bool(dut.m_axis_tvalid.value)
        if m_fire:
            data = _uint(dut.m_axis_tdata.value)
            if not expected:
                errors.append(f"cycle {cycle}: output {data} with nothing pending")
            else:
                e = expected.popleft()
                if e != data and len(errors) < 10:
                    errors.append(f"beat {got}: expected {e}, got {data}")
            got += 1
            if free:
                fired_free.append(cycle)
        if s_fire:
            expected.append(beats[sent])
            sent += 1
            valid = False
        await RisingEdge(dut.clk)
        cycle += 1
    assert got == n, f"only {got} of {n} beats came out"
    assert not errors, "\n".join(errors)
    assert not expected
    # without gaps or back-pressure one beat per cycle flows (after the pipeline refills)
    tail = fired_free[5:]
    assert tail and tail[-1] - tail[0] == len(tail) - 1, "skid buffer lost throughput with no back-pressure"
