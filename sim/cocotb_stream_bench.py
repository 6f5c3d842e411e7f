"""cocotb 2.x test bench for an hwq-emitted streaming top (s_axis_* in, m_axis_* out).

Driver, monitors, model and scoreboard in one clocked loop (one iteration per cycle):

- driver: presents the raw input vectors (file ``HWQ_RTL_INPUTS``, one vector of raw integers per
  line) on ``s_axis_tdata`` with random idle gaps on ``s_axis_tvalid`` (probability ``HWQ_RTL_GAP``);
  tvalid/tdata are held until the beat is accepted (AXI-stream rules);
- ``m_axis_tready`` is randomly low with probability ``HWQ_RTL_BACKPRESSURE``;
- input monitor: every accepted beat (tvalid & tready at a rising edge) is unpacked and fed to the model
  (``hwq.ir.run`` on ``HWQ_RTL_DIR/graph.json``), whose result joins the expected-output queue;
- output monitor + scoreboard: every output beat is compared with the head of the queue; a mismatch
  names the vector, the output index and both integers.

Handshakes are sampled at the falling edge (combinational ready/valid have settled) and take effect at
the next rising edge. The monitored outputs (raw integers, one vector per line) go to ``HWQ_RTL_OUTPUTS``
and figures (latency, throughput, cycles, wall time) to ``HWQ_RTL_STATS`` (JSON). The test ends asserting
zero mismatches and an empty expected queue.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import deque
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge


def _pack(raw_vec, fmt) -> int:
    bits = fmt.to_bits(np.asarray(raw_vec, dtype=np.int64))
    word = 0
    for k, b in enumerate(bits):
        word |= int(b) << (k * fmt.width)
    return word


def _unpack(word: int, count: int, fmt) -> list[int]:
    mask = (1 << fmt.width) - 1
    bits = np.array([(word >> (k * fmt.width)) & mask for k in range(count)], dtype=np.int64)
    return [int(v) for v in fmt.from_bits(bits)]


@cocotb.test()
async def stream_vectors(dut):
    """Stream every input vector through the design under random gaps and back-pressure; compare each output."""
    from hwq.ir import run
    from hwq.ir.serialize import load

    out_dir = Path(os.environ["HWQ_RTL_DIR"])
    graph = load(out_dir / "graph.json")
    in_t, out_t = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    vectors = [
        [int(v) for v in ln.split()] for ln in Path(os.environ["HWQ_RTL_INPUTS"]).read_text().splitlines() if ln.strip()
    ]
    rng = random.Random(int(os.environ.get("HWQ_RTL_SEED", "0")))
    p_gap = float(os.environ.get("HWQ_RTL_GAP", "0"))
    p_bp = float(os.environ.get("HWQ_RTL_BACKPRESSURE", "0"))
    scoreboard = os.environ.get("HWQ_RTL_SCOREBOARD", "1") == "1"
    timeout = int(os.environ.get("HWQ_RTL_TIMEOUT_CYCLES", "2000"))

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    expected: deque = deque()
    outputs: list[list[int]] = []
    accept_cycle: list[int] = []
    latencies: list[int] = []
    errors: list[str] = []
    n_in = 0
    s_valid = False
    m_ready = False
    cycle = 0
    idle = 0
    first_cycle = first_out = last_cycle = None
    t0 = time.perf_counter()
    while len(outputs) < len(vectors):
        # drive this cycle's inputs
        if not s_valid and n_in < len(vectors) and rng.random() >= p_gap:
            s_valid = True
            dut.s_axis_tdata.value = _pack(vectors[n_in], in_t.fmt)
        dut.s_axis_tvalid.value = int(s_valid)
        m_ready = rng.random() >= p_bp
        dut.m_axis_tready.value = int(m_ready)
        await FallingEdge(dut.clk)
        s_fire = s_valid and bool(dut.s_axis_tready.value)
        m_fire = m_ready and bool(dut.m_axis_tvalid.value)
        if m_fire:
            got = _unpack(int(str(dut.m_axis_tdata.value), 2), out_t.size, out_t.fmt)
            k = len(outputs)
            outputs.append(got)
            if first_out is None:
                first_out = cycle
            last_cycle = cycle
            if k < len(accept_cycle):
                latencies.append(cycle - accept_cycle[k])
            if scoreboard:
                if not expected:
                    errors.append(f"vector {k}: output beat with no input beat pending")
                else:
                    exp = expected.popleft()
                    for j, (e, g) in enumerate(zip(exp, got)):
                        if e != g and len(errors) < 20:
                            errors.append(f"vector {k}: output {out_t.name}[{j}]: expected {e}, got {g}")
            idle = 0
        else:
            idle += 1
            if idle > timeout:
                break
        if s_fire:
            if first_cycle is None:
                first_cycle = cycle
            accept_cycle.append(cycle)
            if scoreboard:
                raw = np.asarray(vectors[n_in], dtype=np.int64).reshape((1, *in_t.shape))
                expected.append([int(v) for v in run(graph, {in_t.name: raw}).outputs()[0].reshape(-1)])
            n_in += 1
            s_valid = False
        await RisingEdge(dut.clk)
        cycle += 1
    wall = time.perf_counter() - t0

    Path(os.environ["HWQ_RTL_OUTPUTS"]).write_text("".join(" ".join(map(str, o)) + "\n" for o in outputs))
    span = (last_cycle - first_out + 1) if outputs else 0  # steady state: first to last output beat
    stats = {
        "vectors": len(outputs),
        "cycles": cycle,
        "latency_cycles": min(latencies) if latencies else None,
        "latency_max_cycles": max(latencies) if latencies else None,
        "throughput_outputs_per_cycle": (len(outputs) / span) if span else 0.0,
        "vectors_per_second": len(outputs) / wall if wall > 0 else 0.0,
        "backpressure": p_bp,
        "gap": p_gap,
        "scoreboard_errors": len(errors),
    }
    Path(os.environ["HWQ_RTL_STATS"]).write_text(json.dumps(stats, indent=1) + "\n")
    assert len(outputs) == len(vectors), f"timeout: {len(outputs)} of {len(vectors)} outputs after {cycle} cycles"
    assert not errors, "scoreboard mismatches:\n" + "\n".join(errors)
    assert not expected, f"{len(expected)} expected outputs never appeared"
