"""HLS flow speed, side by side in one run: hwq (emit -> g++ build -> C-simulation of every vector in one
process) against hls4ml (convert -> compile -> predict) on the same network and the same raw inputs.

    python benchmarks/bench_hls.py                       # the digits-style MLP 64-32-16-10, 8-bit
    python benchmarks/bench_hls.py --ir RUN/graph.json   # a graph from 'hwq train' (dense/relu chains for hls4ml)
    python benchmarks/bench_hls.py --vectors 10000 --cnn-ir RUN_CNN/graph.json   # also time hwq on a CNN

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ir", help="IR graph for the side-by-side run (default: digits-style 8-bit MLP)")
    ap.add_argument("--cnn-ir", help="also time the hwq flow alone on this graph (hls4ml bridge: MLPs only)")
    ap.add_argument("--vectors", type=int, default=10000)
    args = ap.parse_args(argv)

    from hwq.sim.verify import random_inputs

    from hwq.ir import run
    from hwq.ir.serialize import load

    graph = load(args.ir) if args.ir else _default_graph()
    inputs = random_inputs(graph, args.vectors, seed=0)
    expected = run(graph, inputs).outputs()
    with tempfile.TemporaryDirectory(prefix="bench_hls_") as tmp:
        work = Path(tmp)
        hwq_t, hwq_out = time_hwq(graph, inputs, work)
        hl_t, hl_out = time_hls4ml(graph, inputs, work)
        cnn = None
        if args.cnn_ir:
            g2 = load(args.cnn_ir)
            in2 = random_inputs(g2, args.vectors, seed=0)
            cnn_t, cnn_out = time_hwq(g2, in2, work / "cnn")
            cnn = (g2.name, cnn_t, _mismatches(run(g2, in2).outputs(), cnn_out))
    rows = ["convert / emit", "compile", "simulate"]
    print(f"HLS flow on {graph.name!r}, {args.vectors} vectors (2 shared cores; seconds)")
    print(f"{'step':<16}{'hwq':>10}{'hls4ml':>10}{'hls4ml/hwq':>12}")
    for r in rows:
        print(f"{r:<16}{hwq_t[r]:>10.3f}{hl_t[r]:>10.3f}{hl_t[r] / max(hwq_t[r], 1e-9):>11.1f}x")
    th, tl = sum(hwq_t.values()), sum(hl_t.values())
    print(f"{'total':<16}{th:>10.3f}{tl:>10.3f}{tl / th:>11.1f}x")
    per_h = hwq_t["simulate"] / args.vectors * 1e6
    per_l = hl_t["simulate"] / args.vectors * 1e6
    print(f"{'us / vector':<16}{per_h:>10.1f}{per_l:>10.1f}{per_l / per_h:>11.1f}x")
    print(f"mismatches vs hwq.ir.run: hwq {_mismatches(expected, hwq_out)}, hls4ml {_mismatches(expected, hl_out)}")
    if cnn:
        name, t, bad = cnn
        print(f"hwq alone on {name!r}: emit {t['convert / emit']:.3f} s, compile {t['compile']:.3f} s, "
              f"simulate {t['simulate']:.3f} s, mismatches {bad}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
