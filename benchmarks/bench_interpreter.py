"""Golden-interpreter speed beside hls4ml's compiled C-simulation predict and float torch, in one run.

Models (random integer weights, lossless accumulators from ``infer_accumulators``), fixed<8,3,RND,SAT>
activations, fixed<6,1> weights:
  mlp16: 16-64-32-32-5 MLP (dense + ReLU)
  mlp64: digits-sized 64-64-32-10 MLP (dense + ReLU)
  cnn:   1x8x8 input, conv3x3 8ch (pad 1) + ReLU, conv3x3 16ch (pad 1) + ReLU, maxpool 2x2, dense 10
         (interpreter and torch only: ``--cnn``)

Regimes: a batch of N vectors in one call (throughput, us per sample), and one vector per call
(latency, us per call, as a test bench feeding vectors one at a time would). Columns:
  run        ``hwq.ir.run(graph, x)`` (plan cached per graph; checks the graph for edits on every call)
  program    ``hwq.ir.compiled.compile_graph(graph).run(x)`` (planned and validated once)
  hls4ml     hls4ml 1.x ``predict`` of the same network (its compiled C++ emulation, built once)
  torch      float32 ``nn.Sequential`` under ``torch.no_grad()``
Two tables: wall time (best round) and CPU time of this process (best round; what a loaded machine
inflates least), with the load average before and after the run.
All single-threaded (torch.set_num_threads(1); the interpreter runs BLAS on one thread). The
interpreter's outputs are checked against hls4ml's (integers) before timing.

    python benchmarks/bench_interpreter.py [--n 10000] [--single 300] [--no-hls4ml] [--cnn]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from hwq.formats import FixedFormat as F
from hwq.ir import Conv2d, Dense, Flatten, Graph, MaxPool, ReLU, run
from hwq.ir.passes import infer_accumulators

ACT = F(8, 3, True, "RND", "SAT")
WF = F(6, 1)
BF = F(8, 3)
WIDE = F(40, 20)  # placeholder, replaced by infer_accumulators


def mlp(rng, sizes=(64, 64, 32, 10), name: str = "mlp64") -> Graph:
    """Dense/ReLU graph of ``sizes`` with random integer weights and lossless accumulators."""
    g = Graph(name, ["x"], [])
    g.add_tensor("x", (sizes[0],), ACT)
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


def timeit(fn, min_time: float = 1.0, rounds: int = 40) -> tuple[float, float]:
    """(wall, CPU) seconds per call: the best of many short rounds of repeated calls (after one warm-up
    call; about ``rounds`` rounds in ``min_time`` seconds), so that other processes on a shared machine
    disturb the figures as little as possible: a short round has a chance to run undisturbed. CPU is
    this process's user+sys time (``time.process_time``: all its threads, so BLAS or hls4ml threads
    count), which time slices lost to other processes do not inflate."""
    fn()
    best, best_cpu = float("inf"), float("inf")
    t_end = time.perf_counter() + min_time
    while True:
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_time / rounds:
                break
        best = min(best, dt / n)
        best_cpu = min(best_cpu, (time.process_time() - c0) / n)
        if time.perf_counter() >= t_end:
            return best, best_cpu


def hls4ml_model(g: Graph, work: Path):
    """The same network as a compiled hls4ml model (its C++ emulation), via hwq's bridge."""
    from hwq.hls.interop import to_hls4ml

    return to_hls4ml(g, work / g.name)


def measure(g: Graph, n: int, k: int, rng, hls_work: Path | None) -> list[tuple]:
    """us per sample (batch of n) and us per call (k one-vector calls) for each engine."""
    import torch

    from hwq.ir.compiled import compile_graph

    t = g.tensor("x")
    xraw = rng.integers(ACT.raw_min, ACT.raw_max + 1, size=(n, *t.shape))
    xf = torch.from_numpy(ACT.from_raw(xraw).astype(np.float32))
    model = torch_model(g)
    prog = compile_graph(g)
    engines = {
        "run": lambda x, xt: run(g, x),
        "program": lambda x, xt: prog.run(x),
    }
    if hls_work is not None:
        from hwq.hls.interop import predict_raw

        hm = hls4ml_model(g, hls_work)
        ref = run(g, xraw[:2000]).outputs()[0]
        got = predict_raw(g, hm, {"x": xraw[:2000]})
        bad = int((got.reshape(len(got), -1) != ref.reshape(len(ref), -1)).any(axis=1).sum())
        if bad:
            raise SystemExit(f"{g.name}: hls4ml and hwq.ir.run differ on {bad} of 2000 vectors")
        engines["hls4ml"] = lambda x, xt: predict_raw(g, hm, {"x": x})

    def torch_fn(x, xt):
        with torch.no_grad():
            return model(xt)

    engines["torch"] = torch_fn
    rows = []
    for regime in ("batch", "1/call"):
        row, cpu = {}, {}
        for name, fn in engines.items():
            if regime == "batch":
                wall, c = timeit(lambda fn=fn: fn(xraw, xf))
                row[name], cpu[name] = wall / n * 1e6, c / n * 1e6
            else:
                xs = [(xraw[i : i + 1], xf[i : i + 1]) for i in range(k)]

                def one_by_one(fn=fn, xs=xs):
                    for a, b in xs:
                        fn(a, b)

                wall, c = timeit(one_by_one)
                row[name], cpu[name] = wall / k * 1e6, c / k * 1e6
        rows.append((g.name, regime, row, cpu))
    return rows


def main() -> None:
    """Measure the models and print the table (microseconds; ratios against ``run``)."""
    import tempfile

    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000, help="batch size of the throughput run")
    ap.add_argument("--single", type=int, default=300, help="vectors fed one per call in the latency run")
    ap.add_argument("--no-hls4ml", action="store_true", help="skip hls4ml (no g++ build)")
    ap.add_argument("--cnn", action="store_true", help="also the small CNN (interpreter and torch only)")
    args = ap.parse_args()
    load0 = " / ".join(f"{a:.1f}" for a in os.getloadavg())
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_interp_") as tmp:
        hls_work = None if args.no_hls4ml else Path(tmp)
        for g in (mlp(rng, (16, 64, 32, 32, 5), "mlp16"), mlp(rng, (64, 64, 32, 10), "mlp64")):
            rows += measure(g, args.n, args.single, rng, hls_work)
        if args.cnn:
            rows += measure(cnn(rng), args.n, args.single, rng, None)
    cols = ["run", "program", "hls4ml", "torch"]
    load = " / ".join(f"{a:.1f}" for a in os.getloadavg())
    print(f"golden interpreter (exact integers) vs hls4ml predict vs torch float32, 1 thread; batch N={args.n}")
    print(f"load average before the run: {load0}; after: {load} (1/5/15 min; 2 cores)")
    for title, idx in (("wall", 2), ("CPU (user+sys of this process)", 3)):
        print(f"\n{title}: us per sample (batch) / us per call (1/call); x: how many times slower than hwq run")
        print(f"{'model':6} {'regime':7}" + "".join(f"{c:>12}" for c in cols) + f"{'hls4ml/run':>12}{'torch/run':>11}")
        for r in rows:
            name, regime, row = r[0], r[1], r[idx]
            cells = "".join(f"{row[c]:>12.2f}" if c in row else f"{'-':>12}" for c in cols)
            hl = f"{row['hls4ml'] / row['run']:>11.1f}x" if "hls4ml" in row else f"{'-':>12}"
            print(f"{name:6} {regime:7}{cells}{hl}{row['torch'] / row['run']:>10.2f}x")
    print("\ngoals (issue 12): batch <= 2 us/sample, one vector per call < 50 us, through hwq.ir.run")
    for name, regime, row, cpu in rows:
        goal = 2.0 if regime == "batch" else 50.0
        w, c = row["run"], cpu["run"]
        print(f"  {name:6} {regime:7} wall {w:8.2f} us ({_verdict(w, goal)}), CPU {c:8.2f} us ({_verdict(c, goal)})")


def _verdict(value: float, goal: float) -> str:
    return "met" if value <= goal else "NOT met"


if __name__ == "__main__":
    main()
