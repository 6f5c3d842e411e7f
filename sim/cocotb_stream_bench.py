"""cocotb 2.x test bench for an hwq-emitted streaming top (s_axis_* in, m_axis_* out).

Driver, monitors, model and scoreboard in one clocked loop (one iteration per cycle):

- driver: presents the raw input vectors (file ``HWQ_RTL_INPUTS``, one row-major vector of raw integers
  per line) on ``s_axis_tdata`` with random idle gaps on ``s_axis_tvalid`` (probability ``HWQ_RTL_GAP``);
  tvalid/tdata are held until the beat is accepted (AXI-stream rules). A vector takes ``beats`` beats
  (``HWQ_RTL_DIR/rtl.json`` "in": ``beats``, ``per_beat``): beat p carries elements ``k*beats + p`` for
  k < per_beat, element k at bits ``[k*W +: W]`` (one beat: the whole row-major vector; pixel-streamed
  (C, H, W): pixel p = y*W + x, its C channels);
- ``m_axis_tready`` is randomly low with probability ``HWQ_RTL_BACKPRESSURE``;
- input monitor: when the last beat of a vector is accepted (tvalid & tready at a rising edge), the
  vector is fed to the model (``hwq.ir.run`` on ``HWQ_RTL_DIR/graph.json``), whose result joins the
  expected-output queue;
- output monitor + scoreboard: output beats are gathered, ``beats`` per vector ("out" of rtl.json),
  reassembled into a row-major vector and compared with the head of the queue; a mismatch names the
  vector, the output index and both integers.

Handshakes are sampled at the falling edge (combinational ready/valid have settled) and take effect at
the next rising edge. The monitored outputs (raw integers, one vector per line) go to ``HWQ_RTL_OUTPUTS``
and figures to ``HWQ_RTL_STATS`` (JSON): ``latency_cycles`` / ``latency_max_cycles`` (min / max over
vectors of the cycles from a vector's first accepted input beat to its last output beat),
``throughput_outputs_per_cycle`` (vectors per cycle from the first to the last output beat),
``cycles_per_vector`` (steady state: cycles between the last output beats of the first and the last vector,
per vector), ``beats_per_cycle_in`` (input beats accepted per cycle from the first to the last accepted
input beat), cycles, wall time. The test ends asserting zero mismatches and an empty expected queue.
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


def beat_elements(beats: int, per_beat: int, p: int) -> list[int]:
    """Row-major indices of the elements that beat ``p`` carries (slot k holds element ``k*beats + p``)."""
    return [k * beats + p for k in range(per_beat)]


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
    manifest = json.loads((out_dir / "rtl.json").read_text())
    in_t, out_t = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    in_beats, in_per = manifest["in"].get("beats", 1), manifest["in"].get("per_beat", in_t.size)
    out_beats, out_per = manifest["out"].get("beats", 1), manifest["out"].get("per_beat", out_t.size)
    assert in_beats * in_per == in_t.size and out_beats * out_per == out_t.size, "rtl.json: beats x per_beat != count"
    vectors = [
        [int(v) for v in ln.split()] for ln in Path(os.environ["HWQ_RTL_INPUTS"]).read_text().splitlines() if ln.strip()
    ]
    rng = random.Random(int(os.environ.get("HWQ_RTL_SEED", "0")))
    p_gap = float(os.environ.get("HWQ_RTL_GAP", "0"))
    p_bp = float(os.environ.get("HWQ_RTL_BACKPRESSURE", "0"))
    scoreboard = os.environ.get("HWQ_RTL_SCOREBOARD", "1") == "1"
    timeout = int(os.environ.get("HWQ_RTL_TIMEOUT_CYCLES", str(max(2000, 20 * (in_beats + out_beats)))))

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    expected: deque = deque()  # per input vector (all beats accepted): the interpreter's output
    got_queue: deque = deque()  # per output vector (all beats taken): (index, values), awaiting its expected
    outputs: list[list[int]] = []
    first_in_cycle: list[int] = []  # per vector: cycle its first input beat was accepted
    done_cycle: list[int] = []  # per vector: cycle its last output beat was taken
    latencies: list[int] = []
    errors: list[str] = []
    n_in = 0  # vectors whose every beat was accepted
    in_beat = 0  # next beat of vector n_in
    in_fires = 0
    out_vec = [0] * out_t.size
    out_beat = 0
    s_valid = False
    m_ready = False
    cycle = 0
    idle = 0
    first_cycle = last_in = first_out = last_cycle = None
    t0 = time.perf_counter()

    def score() -> None:
        # A streamed layer may finish a vector's output before its last input beats (input rows that no
        # window reads), so outputs and expectations are paired whenever both sides are complete.
        while expected and got_queue:
            exp = expected.popleft()
            k, got = got_queue.popleft()
            for j, (e, g) in enumerate(zip(exp, got)):
                if e != g and len(errors) < 20:
                    errors.append(f"vector {k}: output {out_t.name}[{j}]: expected {e}, got {g}")

    while len(outputs) < len(vectors) or n_in < len(vectors):
        # drive this cycle's inputs
        if not s_valid and n_in < len(vectors) and rng.random() >= p_gap:
            s_valid = True
            idx = beat_elements(in_beats, in_per, in_beat)
            dut.s_axis_tdata.value = _pack([vectors[n_in][i] for i in idx], in_t.fmt)
        dut.s_axis_tvalid.value = int(s_valid)
        m_ready = rng.random() >= p_bp
        dut.m_axis_tready.value = int(m_ready)
        await FallingEdge(dut.clk)
        s_fire = s_valid and bool(dut.s_axis_tready.value)
        m_fire = m_ready and bool(dut.m_axis_tvalid.value)
        if m_fire:
            got_beat = _unpack(int(str(dut.m_axis_tdata.value), 2), out_per, out_t.fmt)
            for i, v in zip(beat_elements(out_beats, out_per, out_beat), got_beat):
                out_vec[i] = v
            if first_out is None:
                first_out = cycle
            out_beat += 1
            if out_beat == out_beats:
                got, out_vec, out_beat = out_vec, [0] * out_t.size, 0
                k = len(outputs)
                outputs.append(got)
                last_cycle = cycle
                done_cycle.append(cycle)
                if k < len(first_in_cycle):
                    latencies.append(cycle - first_in_cycle[k])
                if scoreboard:
                    if len(outputs) > len(vectors):
                        errors.append(f"vector {k}: an output vector beyond the {len(vectors)} sent")
                    got_queue.append((k, got))
                    score()
            idle = 0
        else:
            idle += 1
            if idle > timeout:
                break
        if s_fire:
            if first_cycle is None:
                first_cycle = cycle
            last_in = cycle
            in_fires += 1
            if in_beat == 0:
                first_in_cycle.append(cycle)
            in_beat += 1
            if in_beat == in_beats:
                if scoreboard:
                    raw = np.asarray(vectors[n_in], dtype=np.int64).reshape((1, *in_t.shape))
                    expected.append([int(v) for v in run(graph, {in_t.name: raw}).outputs()[0].reshape(-1)])
                    score()
                n_in += 1
                in_beat = 0
            s_valid = False
            idle = 0
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
        "cycles_per_vector": ((done_cycle[-1] - done_cycle[0]) / (len(done_cycle) - 1))
        if len(done_cycle) > 1
        else None,
        "beats_per_cycle_in": (in_fires / (last_in - first_cycle + 1)) if in_fires else 0.0,
        "beats_in": in_beats,
        "beats_out": out_beats,
        "vectors_per_second": len(outputs) / wall if wall > 0 else 0.0,
        "backpressure": p_bp,
        "gap": p_gap,
        "scoreboard_errors": len(errors),
    }
    Path(os.environ["HWQ_RTL_STATS"]).write_text(json.dumps(stats, indent=1) + "\n")
    assert len(outputs) == len(vectors), f"timeout: {len(outputs)} of {len(vectors)} outputs after {cycle} cycles"
    assert not errors, "scoreboard mismatches:\n" + "\n".join(errors)
    assert not expected, f"{len(expected)} expected outputs never appeared"
    assert not got_queue, f"{len(got_queue)} output vectors have no input vector"
