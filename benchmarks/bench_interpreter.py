"""Golden-interpreter speed next to float torch inference of the same model, in one run.

Models (random integer weights, lossless accumulators from ``infer_accumulators``):
  mlp: digits-sized MLP 64-64-32-10 (dense + ReLU), fixed<8,3> activations, fixed<6,1> weights
  cnn: 1x8x8 input, conv3x3 8ch (pad 1) + ReLU, conv3x3 16ch (pad 1) + ReLU, maxpool 2x2, dense 10

Two regimes: a batch of N vectors in one call (throughput), and one vector per call (latency, as a
test bench feeding vectors one at a time would). torch runs the same weights as float32 nn modules
under ``torch.no_grad()``, single-threaded like the interpreter's numpy. Prints a table with ratios.

    python benchmarks/bench_interpreter.py [--n 10000] [--single 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hwq.formats import FixedFormat as F
from hwq.ir import Conv2d, Dense, Flatten, Graph, MaxPool, ReLU, run
from hwq.ir.passes import infer_accumulators

ACT = F(8, 3, True, "RND", "SAT")
WF = F(6, 1)
BF = F(8, 3)
WIDE = F(40, 20)  # placeholder, replaced by infer_accumulators


def mlp(rng) -> Graph:
    """64-64-32-10 dense/ReLU graph with random integer weights and lossless accumulators."""
    sizes = [64, 64, 32, 10]
    g = Graph("mlp", ["x"], [])
    g.add_tensor("x", (64,), ACT)
    x = "x"
    for i, (n, m) in enumerate(zip(sizes[:-1], sizes[1:])):
        h = f"fc{i}"
        g.add_tensor(h, (m,), ACT)
        w = rng.integers(WF.raw_min, WF.raw_max + 1, size=(m, n))
        b = rng.integers(BF.raw_min, BF.raw_max + 1, size=(m,))
        g.add_op(Dense(f"fc{i}", [x], h, w, b, WF, BF, WIDE))
        x = h
        if i < len(sizes) - 2:
            g.add_tensor(f"relu{i}", (m,), ACT)
            g.add_op(ReLU(f"relu{i}", [x], f"relu{i}"))
            x = f"relu{i}"
    g.outputs = [x]
    return infer_accumulators(g)


def cnn(rng) -> Graph:
    """1x8x8 -> conv3x3(8) -> ReLU -> conv3x3(16) -> ReLU -> maxpool 2 -> dense 10, random weights."""
    g = Graph("cnn", ["x"], [])
    g.add_tensor("x", (1, 8, 8), ACT)
    x, cin = "x", 1
    for i, cout in enumerate((8, 16)):
        w = rng.integers(WF.raw_min, WF.raw_max + 1, size=(cout, cin, 3, 3))
        b = rng.integers(BF.raw_min, BF.raw_max + 1, size=(cout,))
        g.add_tensor(f"conv{i}", (cout, 8, 8), ACT)
        g.add_op(Conv2d(f"conv{i}", [x], f"conv{i}", w, b, WF, BF, WIDE, (1, 1), (1, 1, 1, 1)))
        g.add_tensor(f"relu{i}", (cout, 8, 8), ACT)
        g.add_op(ReLU(f"relu{i}", [f"conv{i}"], f"relu{i}"))
        x, cin = f"relu{i}", cout
    g.add_tensor("pool", (16, 4, 4), ACT)
    g.add_op(MaxPool("pool", [x], "pool", (2, 2), (2, 2), (0, 0, 0, 0)))
    g.add_tensor("flat", (256,), ACT)
    g.add_op(Flatten("flat", ["pool"], "flat"))
    w = rng.integers(WF.raw_min, WF.raw_max + 1, size=(10, 256))
    b = rng.integers(BF.raw_min, BF.raw_max + 1, size=(10,))
    g.add_tensor("out", (10,), ACT)
    g.add_op(Dense("fc", ["flat"], "out", w, b, WF, BF, WIDE))
    g.outputs = ["out"]
    return infer_accumulators(g)


def torch_model(g: Graph):
    """The same network in float32 torch modules (weights = raw * 2**-F)."""
    import torch

    layers = []
    for op in g.ops:
        if op.kind == "dense":
            m = torch.nn.Linear(op.weight.shape[1], op.weight.shape[0])
        elif op.kind == "conv2d":
            m = torch.nn.Conv2d(op.weight.shape[1], op.weight.shape[0], op.weight.shape[2:], padding=1)
        elif op.kind == "relu":
            layers.append(torch.nn.ReLU())
            continue
        elif op.kind == "maxpool":
            layers.append(torch.nn.MaxPool2d(2))
            continue
        elif op.kind == "flatten":
            layers.append(torch.nn.Flatten())
            continue
        else:
            raise ValueError(op.kind)
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(op.weight_fmt.from_raw(op.weight)))
            m.bias.copy_(torch.from_numpy(op.bias_fmt.from_raw(op.bias)))
        layers.append(m)
    return torch.nn.Sequential(*layers).eval()


def timeit(fn, min_time: float = 0.5) -> float:
    """Seconds per call: repeat until ``min_time`` has passed (after one warm-up call)."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return dt / n


def measure(g: Graph, n: int, k: int, rng) -> list[tuple[str, str, float, float]]:
    """Inferences per second of the interpreter and of torch: batch of n, then k one-vector calls."""
    import torch

    t = g.tensor("x")
    xraw = rng.integers(ACT.raw_min, ACT.raw_max + 1, size=(n, *t.shape))
    xf = torch.from_numpy(ACT.from_raw(xraw).astype(np.float32))
    model = torch_model(g)
    with torch.no_grad():
        tb_t = timeit(lambda: model(xf))
    tb_i = timeit(lambda: run(g, xraw))

    def one_by_one_interp():
        for i in range(k):
            run(g, xraw[i : i + 1])

    def one_by_one_torch():
        with torch.no_grad():
            for i in range(k):
                model(xf[i : i + 1])

    ts_i = timeit(one_by_one_interp) / k
    ts_t = timeit(one_by_one_torch) / k
    return [(g.name, "batch", n / tb_i, n / tb_t), (g.name, "1/call", 1 / ts_i, 1 / ts_t)]


def main() -> None:
    """Measure both models and print the table."""
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000, help="batch size of the throughput run")
    ap.add_argument("--single", type=int, default=200, help="vectors fed one per call in the latency run")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for g in (mlp(rng), cnn(rng)):
        rows += measure(g, args.n, args.single, rng)
    print(f"interpreter (numpy int, exact) vs torch float32 (1 thread); batch run N={args.n}")
    print(f"{'model':6} {'regime':7} {'interp inf/s':>14} {'torch inf/s':>14} {'torch/interp':>13}")
    for name, regime, ri, rt in rows:
        print(f"{name:6} {regime:7} {ri:14,.0f} {rt:14,.0f} {rt / ri:12.1f}x")


if __name__ == "__main__":
    main()
