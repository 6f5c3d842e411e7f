"""HLS flow speed, side by side in one run: hwq (emit -> g++ build -> C-simulation of every vector in one
process) against hls4ml (convert -> compile -> predict) on the same network and the same raw inputs.

    python benchmarks/bench_hls.py                       # the digits-style MLP 64-32-16-10, 8-bit
    python benchmarks/bench_hls.py --ir RUN_MLP/graph.json --ir RUN_CNN/graph.json   # graphs from 'hwq train'

Graphs must be chains the hls4ml bridge maps (dense, conv2d, relu, maxpool, flatten).

Builds are timed from scratch (fresh build folders). Both outputs are also checked against hwq.ir.run,
so the table only reports flows that computed the same integers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _default_graph():
    from tests.hls.graphs import mlp

    return mlp(8, seed=1, sizes=(64, 32, 16, 10), name="digits_mlp8")


def time_hwq(graph, inputs, work: Path) -> tuple[dict, list]:
    from hwq.hls import emit
    from hwq.sim.csim import build, run_csim

    t0 = time.perf_counter()
    emit(graph, work / "hwq", command="bench_hls", tb_vectors=0)
    t1 = time.perf_counter()
    build(work / "hwq", cache_dir=work / "hwq_build")
    t2 = time.perf_counter()
    outs, _ = run_csim(work / "hwq", graph, inputs, cache_dir=work / "hwq_build")  # cached binary: run only
    t3 = time.perf_counter()
    return {"convert / emit": t1 - t0, "compile": t2 - t1, "simulate": t3 - t2}, outs


def time_hls4ml(graph, inputs, work: Path) -> tuple[dict, list]:
    from hwq.hls.interop import predict_raw, to_hls4ml

    t0 = time.perf_counter()
    model = to_hls4ml(graph, work / "hls4ml", compile=False)
    t1 = time.perf_counter()
    model.compile()
    t2 = time.perf_counter()
    out = predict_raw(graph, model, inputs)
    t3 = time.perf_counter()
    return {"convert / emit": t1 - t0, "compile": t2 - t1, "simulate": t3 - t2}, [out]


def _mismatches(expected: list, got: list) -> int:
    n = len(expected[0])
    bad = np.zeros(n, dtype=bool)
    for e, g in zip(expected, got):
        bad |= (np.asarray(e).reshape(n, -1) != np.asarray(g).reshape(n, -1)).any(axis=1)
    return int(bad.sum())


def bench_one(graph, vectors: int, work: Path) -> None:
    """Print the side-by-side table of one graph."""
    from hwq.sim.verify import random_inputs

    from hwq.ir import run

    inputs = random_inputs(graph, vectors, seed=0)
    expected = run(graph, inputs).outputs()
    hwq_t, hwq_out = time_hwq(graph, inputs, work / "hwq")
    hl_t, hl_out = time_hls4ml(graph, inputs, work / "hls4ml")
    print(f"\nHLS flow on {graph.name!r}, {vectors} vectors (2 shared cores; seconds)")
    print(f"{'step':<16}{'hwq':>10}{'hls4ml':>10}{'hls4ml/hwq':>12}")
    for r in ("convert / emit", "compile", "simulate"):
        print(f"{r:<16}{hwq_t[r]:>10.3f}{hl_t[r]:>10.3f}{hl_t[r] / max(hwq_t[r], 1e-9):>11.1f}x")
    th, tl = sum(hwq_t.values()), sum(hl_t.values())
    print(f"{'total':<16}{th:>10.3f}{tl:>10.3f}{tl / th:>11.1f}x")
    per_h = hwq_t["simulate"] / vectors * 1e6
    per_l = hl_t["simulate"] / vectors * 1e6
    print(f"{'us / vector':<16}{per_h:>10.1f}{per_l:>10.1f}{per_l / per_h:>11.1f}x")
    print(f"mismatches vs hwq.ir.run: hwq {_mismatches(expected, hwq_out)}, hls4ml {_mismatches(expected, hl_out)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ir", action="append", default=[], help="IR graph(s) (default: digits-style 8-bit MLP)")
    ap.add_argument("--vectors", type=int, default=10000)
    args = ap.parse_args(argv)

    from hwq.ir.serialize import load

    graphs = [load(p) for p in args.ir] or [_default_graph()]
    for k, graph in enumerate(graphs):
        with tempfile.TemporaryDirectory(prefix="bench_hls_") as tmp:
            bench_one(graph, args.vectors, Path(tmp) / str(k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
