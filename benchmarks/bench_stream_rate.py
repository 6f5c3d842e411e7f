"""Cycles per frame of streamed CNNs with padded convolutions (Icarus, no gaps, no back-pressure).

Designs: the digits-sized CNN of ``bench_rtl_cnn.py`` (1 x 8 x 8 input, conv3x3 pad 1 -> ReLU -> maxpool 2 ->
conv3x3 stride 2 pad 1 -> ReLU -> flatten -> dense 10) and the residual CNN of ``bench_rtl_residual.py``
(1 x 10 x 10, stem conv3x3 pad 1, a residual block of two conv3x3 pad 1 with the skip through a FIFO, max pool,
dense). Each is emitted with ``hwq.rtl.emit(..., pipeline=1)``, simulated with ``hwq.sim.rtlsim.run_rtl``
(frames back to back), every output integer is compared with ``hwq.ir.run``, and the bench's steady-state
``cycles_per_vector`` is printed beside the input pixels per frame (the ideal: one input pixel per cycle).

Usage: ``python benchmarks/bench_stream_rate.py [--vectors 30] [--json F]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def measure(name: str, graph, vectors: int) -> dict:
    """Emit, simulate without gaps/back-pressure and check one design; one result row."""
    from hwq.ir import run
    from hwq.rtl import emit
    from hwq.sim.rtlsim import run_rtl
    from hwq.sim.verify import random_inputs

    with tempfile.TemporaryDirectory() as d:
        emit(graph, d, pipeline=1, tb_vectors=0, command="benchmarks/bench_stream_rate.py")
        man = json.loads((Path(d) / "rtl.json").read_text())
        x = random_inputs(graph, vectors, seed=1)
        t0, c0 = time.perf_counter(), time.process_time()
        out, extra = run_rtl(d, graph, x, "icarus", backpressure=0.0, gap=0.0)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        exact = bool(np.array_equal(out[0], run(graph, x).outputs()[0]))
    beats = man["in"]["beats"]
    return {
        "design": name,
        "input_pixels_per_frame": beats,
        "cycles_per_frame": extra["cycles_per_vector"],
        "input_pixels_per_cycle": round(beats / extra["cycles_per_vector"], 3),
        "latency_cycles": extra["latency_cycles"],
        "exact": exact,
        "windows": [lay["window"] for lay in man["layers"] if "window" in lay],
        "sim_wall_s": round(wall, 1),
        "sim_cpu_s_parent": round(cpu, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=30)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    cnn, res = _load("bench_rtl_cnn"), _load("bench_rtl_residual")
    rows = [
        measure("digits CNN 1x8x8", cnn.cnn_graph(8, 4), a.vectors),
        measure("residual CNN 1x10x10", res.residual_cnn(10, 4), a.vectors),
    ]
    for r in rows:
        print(
            f"{r['design']:24s} {r['input_pixels_per_frame']:4d} input pixels/frame  "
            f"{r['cycles_per_frame']:7.1f} cycles/frame  {r['input_pixels_per_cycle']:.3f} pixels/cycle  "
            f"latency {r['latency_cycles']} cycles  exact={r['exact']}"
        )
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if all(r["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
