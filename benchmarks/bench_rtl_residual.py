"""Residual CNNs in Verilog: the branching region streamed (fork, skip FIFO, join) against one parallel layer.

Graphs (fixed seed, random weights ``fixed<4,1>``, biases ``fixed<6,2>``, lossless WRAP accumulators, input
``fixed<6,2>``, activations ``ufixed<6,3,RND,SAT>``):

- ``residual_cnn(size, ch)``: ``1 x S x S`` -> stem conv3x3 pad 1 (C) -> ReLU -> [conv3x3 -> BatchNorm ->
  ReLU -> conv3x3, + the stem output (Add) -> ReLU] -> maxpool 2x2 -> flatten -> dense 10;
- ``resnet_stage(size, ch, blocks)``: ``1 x S x S`` -> stem conv3x3 (C) -> ReLU -> ``blocks`` residual blocks
  (conv-BN-ReLU, conv-BN, Add with the block input, ReLU); the graph output is the last block's (streamed).

For the residual CNN the script emits two designs: ``branch`` (``hwq.rtl.emit``, io stream: every conv a line
buffer and a one-pixel datapath, the skip path a FIFO, the Add a pixel layer) and ``single`` (the planner
without branch streaming: the residual region stays one fully parallel layer, what hwq emitted before). For
each: emit time, Verilog bytes, adders (sum over layers), optionally yosys (``synth_xilinx -flatten``: LUT,
FF, CARRY4) and an Icarus co-simulation of ``--vectors`` random vectors under random gaps and back-pressure
(``hwq verify rtl``: every output integer against ``hwq.ir.run``). Then the emit time of the ResNet stage.

Usage: ``python benchmarks/bench_rtl_residual.py [--size 10] [--channels 4] [--vectors 200] [--designs
branch,single] [--synth] [--single-vectors N] [--stage-size 32] [--stage-channels 16] [--stage-blocks 3]
[--stage-adders balanced] [--json F]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hwq.formats import FixedFormat, parse
from hwq.ir import Add, BatchNorm, Conv2d, Dense, Flatten, Graph, MaxPool, ReLU

WF, BF = parse("fixed<4,1>"), parse("fixed<6,2>")
ACT = "ufixed<6,3,RND,SAT>"
SF, SB = parse("fixed<6,2>"), parse("fixed<8,3>")  # BatchNorm scale and bias


def _acc(x_fmt, weight: np.ndarray, bias: np.ndarray) -> FixedFormat:
    """A WRAP accumulator wide enough for every sum (it never wraps)."""
    frac = x_fmt.frac_bits + WF.frac_bits
    xmag = max(abs(x_fmt.raw_min), abs(x_fmt.raw_max))
    bound = int(np.abs(weight).sum(axis=1).max()) * xmag + (int(np.abs(bias).max()) << (frac - BF.frac_bits))
    width = bound.bit_length() + 1
    return FixedFormat(width, width - frac, True)


class _Builder:
    """Adds ops with random integer parameters to a graph (one rng)."""

    def __init__(self, g: Graph, seed: int) -> None:
        self.g, self.rng = g, np.random.default_rng(seed)

    def conv(self, name: str, x: str, cout: int, out_fmt: str = "fixed<8,4,RND,SAT>") -> str:
        """conv3x3 'same' (padding 1) with cout channels; returns the output tensor."""
        cin, h, w_ = self.g.tensor(x).shape
        w = self.rng.integers(WF.raw_min, WF.raw_max + 1, size=(cout, cin, 3, 3))
        b = self.rng.integers(BF.raw_min, BF.raw_max + 1, size=(cout,))
        self.g.add_tensor(name, (cout, h, w_), out_fmt)
        acc = _acc(self.g.tensor(x).fmt, w.reshape(cout, -1), b)
        self.g.add_op(
            Conv2d(f"{name}_op", [x], name, weight=w, bias=b, weight_fmt=WF, bias_fmt=BF, acc_fmt=acc, padding=(1,) * 4)
        )
        return name

    def bn(self, name: str, x: str, out_fmt: str = "fixed<8,3,RND_INF,SAT>") -> str:
        c = self.g.tensor(x).shape[0]
        self.g.add_tensor(name, self.g.tensor(x).shape, out_fmt)
        scale = self.rng.integers(SF.raw_min, SF.raw_max + 1, size=(c,))
        bias = self.rng.integers(SB.raw_min, SB.raw_max + 1, size=(c,))
        self.g.add_op(BatchNorm(f"{name}_op", [x], name, scale=scale, bias=bias, scale_fmt=SF, bias_fmt=SB))
        return name

    def relu(self, name: str, x: str) -> str:
        self.g.add_tensor(name, self.g.tensor(x).shape, ACT)
        self.g.add_op(ReLU(f"{name}_op", [x], name))
        return name

    def add(self, name: str, a: str, b: str, out_fmt: str = "fixed<8,4,RND,SAT>") -> str:
        self.g.add_tensor(name, self.g.tensor(a).shape, out_fmt)
        self.g.add_op(Add(f"{name}_op", [a, b], name))
        return name


def residual_cnn(size: int = 10, ch: int = 4, seed: int = 0) -> Graph:
    """The small residual CNN of the module docstring (1 x size x size -> 10 classes)."""
    g = Graph(f"rescnn{size}x{ch}", ["x"], ["out"])
    g.add_tensor("x", (1, size, size), "fixed<6,2>")
    b = _Builder(g, seed)
    r0 = b.relu("r0", b.conv("c0", "x", ch))
    r1 = b.relu("r1", b.bn("n1", b.conv("c1", r0, ch)))
    c2 = b.conv("c2", r1, ch)
    r2 = b.relu("r2", b.add("s2", r0, c2))
    s = size // 2
    g.add_tensor("p", (ch, s, s), ACT)
    g.add_op(MaxPool("pool", [r2], "p", kernel=(2, 2), stride=(2, 2), padding=(0, 0, 0, 0)))
    g.add_tensor("flat", (ch * s * s,), ACT)
    g.add_op(Flatten("flatten", ["p"], "flat"))
    w = b.rng.integers(WF.raw_min, WF.raw_max + 1, size=(10, ch * s * s))
    bias = b.rng.integers(BF.raw_min, BF.raw_max + 1, size=(10,))
    g.add_tensor("out", (10,), "fixed<10,6,RND,SAT>")
    g.add_op(
        Dense("fc", ["flat"], "out", weight=w, bias=bias, weight_fmt=WF, bias_fmt=BF, acc_fmt=_acc(parse(ACT), w, bias))
    )
    g.validate()
    return g


def resnet_stage(size: int = 32, ch: int = 16, blocks: int = 3, seed: int = 0) -> Graph:
    """Stem conv + ReLU, then ``blocks`` residual blocks; output: the last block's ReLU (streamed)."""
    g = Graph(f"resstage{size}x{ch}x{blocks}", ["x"], [])
    g.add_tensor("x", (1, size, size), "fixed<6,2>")
    b = _Builder(g, seed)
    h = b.relu("r0", b.conv("c0", "x", ch))
    for k in range(1, blocks + 1):
        a = b.relu(f"ra{k}", b.bn(f"na{k}", b.conv(f"ca{k}", h, ch)))
        c = b.bn(f"nb{k}", b.conv(f"cb{k}", a, ch))
        h = b.relu(f"r{k}", b.add(f"s{k}", h, c))
    g.outputs = [h]
    g.validate()
    return g


def _emit(g: Graph, out: Path, design: str, adders: str = "balanced") -> tuple[float, dict]:
    """Emit ``design`` (branch: the default planner; single: branching regions in one parallel layer) with
    adder-graph style ``adders``; returns (seconds, rtl.json)."""
    from hwq.rtl import emit
    from hwq.rtl import plan as plan_mod

    t0 = time.perf_counter()
    if design == "branch":
        emit(g, out, pipeline=1, tb_vectors=0, adders=adders)
    else:
        orig = plan_mod.plan_layers
        emit_mod = sys.modules["hwq.rtl.emit"]
        emit_mod.plan_layers = lambda graph, io="parallel", branches=False: orig(graph, io, False)
        try:
            emit(g, out, pipeline=1, tb_vectors=0, adders=adders)
        finally:
            emit_mod.plan_layers = orig
    dt = time.perf_counter() - t0
    return dt, json.loads((out / "rtl.json").read_text())


def measure(g: Graph, design: str, vectors: int, synth: bool) -> dict:
    """One row: emit time, size, adders, yosys and co-simulation figures of ``design`` for graph ``g``."""
    from hwq.rtl import synth_report
    from hwq.sim.verify import verify

    with tempfile.TemporaryDirectory() as d:
        out = Path(d)
        dt, man = _emit(g, out, design)
        size = sum(f.stat().st_size for f in out.glob("*.v"))
        row = {
            "design": design,
            "emit_s": round(dt, 3),
            "verilog_bytes": size,
            "adders": sum(lay["adders"] for lay in man["layers"]),
            "layers": [(lay["name"], lay["style"], lay["adders"]) for lay in man["layers"]],
        }
        if synth:
            t0 = time.perf_counter()
            rep = synth_report(out)
            row.update({k.lower(): rep[k] for k in ("LUT", "FF", "CARRY", "DSP")})
            row["synth_s"] = round(time.perf_counter() - t0, 1)
        if vectors:
            t0 = time.perf_counter()
            rep = verify("rtl", out, vectors=vectors, seed=1, simulator="icarus")
            row.update(
                {
                    "vectors": rep.vectors,
                    "mismatches": rep.mismatches,
                    "scoreboard_errors": rep.extra.get("scoreboard_errors"),
                    "cosim_s": round(time.perf_counter() - t0, 1),
                }
            )
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--vectors", type=int, default=200)
    ap.add_argument("--designs", default="branch,single")
    ap.add_argument("--synth", action="store_true", help="run yosys on each design")
    ap.add_argument("--single-vectors", type=int, default=None, help="vectors for single (default: --vectors)")
    ap.add_argument("--stage-size", type=int, default=32)
    ap.add_argument("--stage-channels", type=int, default=16)
    ap.add_argument("--stage-blocks", type=int, default=3)
    ap.add_argument("--stage-adders", default="balanced", help="adder-graph style of the stage (emit -O adders)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rows = []
    g = residual_cnn(a.size, a.channels)
    for design in a.designs.split(","):
        vec = a.vectors if design == "branch" or a.single_vectors is None else a.single_vectors
        row = measure(g, design, vec, a.synth)
        rows.append(row)
        print(f"{g.name} {design}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "layers"), flush=True)
    if len(rows) == 2:
        b, s = rows
        print(
            f"single/branch: verilog bytes {s['verilog_bytes'] / b['verilog_bytes']:.1f}x, "
            f"adders {s['adders'] / max(b['adders'], 1):.1f}x"
            + (f", LUT {s['lut'] / b['lut']:.1f}x" if b.get("lut") and s.get("lut") else "")
        )
    stage = resnet_stage(a.stage_size, a.stage_channels, a.stage_blocks)
    with tempfile.TemporaryDirectory() as d:
        dt, man = _emit(stage, Path(d), "branch", a.stage_adders)
        size = sum(f.stat().st_size for f in Path(d).glob("*.v"))
    srow = {
        "design": f"{stage.name} branch, adders {a.stage_adders}",
        "emit_s": round(dt, 2),
        "verilog_bytes": size,
        "adders": sum(lay["adders"] for lay in man["layers"]),
        "layers": len(man["layers"]),
    }
    rows.append(srow)
    print(f"{stage.name}: " + ", ".join(f"{k} {v}" for k, v in srow.items()), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
