"""HLS flow speed, side by side in one run: hwq (emit -> g++ build -> C-simulation of every vector in one
process) against hls4ml (convert -> compile -> predict) on the same network and the same raw inputs.

    python benchmarks/bench_hls.py                       # digits-style MLP 64-32-16-10 and CNN, 8-bit
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


def _default_cnn():
    """Digits-sized CNN: 1x8x8 -> conv3x3 8ch (pad 1) -> ReLU -> maxpool 2 -> flatten -> dense 10, 8-bit,
    lossless accumulators (``infer_accumulators``)."""
    from hwq.formats import parse
    from hwq.ir import Conv2d, Dense, Flatten, Graph, MaxPool, ReLU
    from hwq.ir.passes import infer_accumulators

    rng = np.random.default_rng(1)
    wf, bf, wide = parse("fixed<8,1>"), parse("fixed<16,6>"), parse("fixed<40,20>")
    act = parse("ufixed<8,4,RND_CONV,SAT>")
    g = Graph("digits_cnn8", ["img"], ["logits"])
    g.add_tensor("img", (1, 8, 8), parse("ufixed<8,4>"))
    g.add_tensor("c1", (8, 8, 8), parse("fixed<12,7,RND,SAT>"))
    g.add_tensor("r1", (8, 8, 8), act)
    g.add_tensor("p1", (8, 4, 4), act)
    g.add_tensor("f", (128,), act)
    g.add_tensor("logits", (10,), parse("fixed<16,8,RND,SAT>"))
    w1, b1 = rng.integers(-128, 128, (8, 1, 3, 3)), rng.integers(-999, 999, 8)
    g.add_op(Conv2d("conv1", ["img"], "c1", w1, b1, wf, bf, wide, (1, 1), (1, 1, 1, 1)))
    g.add_op(ReLU("relu1", ["c1"], "r1"))
    g.add_op(MaxPool("pool1", ["r1"], "p1", (2, 2), (2, 2), (0, 0, 0, 0)))
    g.add_op(Flatten("flat", ["p1"], "f"))
    w2, b2 = rng.integers(-128, 128, (10, 128)), rng.integers(-999, 999, 10)
    g.add_op(Dense("fc", ["f"], "logits", w2, b2, wf, bf, wide))
    return infer_accumulators(g)


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
    from hwq.ir import run
    from hwq.sim.verify import random_inputs

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
    ap.add_argument("--ir", action="append", default=[], help="IR graph(s) (default: digits-style 8-bit MLP, CNN)")
    ap.add_argument("--vectors", type=int, default=10000)
    args = ap.parse_args(argv)

    from hwq.ir.serialize import load

    graphs = [load(p) for p in args.ir] or [_default_graph(), _default_cnn()]
    for k, graph in enumerate(graphs):
        with tempfile.TemporaryDirectory(prefix="bench_hls_") as tmp:
            bench_one(graph, args.vectors, Path(tmp) / str(k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
