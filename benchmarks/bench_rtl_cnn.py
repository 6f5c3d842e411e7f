"""A small CNN emitted fully parallel and streamed (line buffers): area from yosys, speed from Icarus.

The CNN (fixed seed, random weights ``fixed<4,1>``, biases ``fixed<6,2>``, lossless WRAP accumulators):
``1 x S x S`` input ``fixed<6,2>`` -> conv3x3 pad 1 (C channels) -> ReLU -> maxpool 2x2 -> conv3x3 stride 2
pad 1 (C channels) -> ReLU -> flatten -> dense 10. For ``io`` in (parallel, stream) the script

1. emits it with ``hwq.rtl.emit(..., io=io, pipeline=1)``;
2. synthesises the whole top with yosys (default ``synth_xilinx -flatten``) and counts LUT, FF, CARRY, DSP;
3. simulates it on Icarus without gaps or back-pressure (``hwq.sim.rtlsim.run_rtl``), checks every output
   integer against ``hwq.ir.run``, and reports steady-state cycles per frame, frames per cycle and the
   latency (first input beat of a frame to its last output beat);
4. prints one row per design and the streamed/parallel ratios.

Usage: ``python benchmarks/bench_rtl_cnn.py [--size 12] [--channels 8] [--vectors 20] [--script S] [--json F]
[--designs parallel,stream] [--no-synth]``
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
from hwq.ir import Conv2d, Dense, Flatten, Graph, MaxPool, ReLU, run
from hwq.rtl import emit, synth_report

WF, BF = parse("fixed<4,1>"), parse("fixed<6,2>")


def _acc(x_fmt, weight: np.ndarray, bias: np.ndarray) -> FixedFormat:
    """A WRAP accumulator wide enough for every sum (it never wraps)."""
    frac = x_fmt.frac_bits + WF.frac_bits
    xmag = max(abs(x_fmt.raw_min), abs(x_fmt.raw_max))
    bound = int(np.abs(weight).sum(axis=1).max()) * xmag + (int(np.abs(bias).max()) << (frac - BF.frac_bits))
    width = bound.bit_length() + 1
    return FixedFormat(width, width - frac, True)


def cnn_graph(size: int, ch: int, seed: int = 0) -> Graph:
    """The benchmark CNN (module docstring)."""
    rng = np.random.default_rng(seed)
    g = Graph(f"cnn{size}x{ch}", ["x"], ["out"])
    g.add_tensor("x", (1, size, size), "fixed<6,2>")
    act = "ufixed<6,3,RND,SAT>"

    def conv(name, x, y, y_shape, cin, **geom):
        w = rng.integers(WF.raw_min, WF.raw_max + 1, size=(ch, cin, 3, 3))
        b = rng.integers(BF.raw_min, BF.raw_max + 1, size=(ch,))
        g.add_tensor(y, y_shape, "fixed<8,4,RND,SAT>")
        acc = _acc(g.tensor(x).fmt, w.reshape(ch, -1), b)
        g.add_op(Conv2d(name, [x], y, weight=w, bias=b, weight_fmt=WF, bias_fmt=BF, acc_fmt=acc, **geom))

    conv("conv1", "x", "c1", (ch, size, size), 1, padding=(1, 1, 1, 1))
    g.add_tensor("r1", (ch, size, size), act)
    g.add_op(ReLU("relu1", ["c1"], "r1"))
    s2 = size // 2
    g.add_tensor("p1", (ch, s2, s2), act)
    g.add_op(MaxPool("pool1", ["r1"], "p1", kernel=(2, 2), stride=(2, 2), padding=(0, 0, 0, 0)))
    s3 = (s2 - 1) // 2 + 1
    conv("conv2", "p1", "c2", (ch, s3, s3), ch, stride=(2, 2), padding=(1, 1, 1, 1))
    g.add_tensor("r2", (ch, s3, s3), act)
    g.add_op(ReLU("relu2", ["c2"], "r2"))
    n = ch * s3 * s3
    g.add_tensor("flat", (n,), act)
    g.add_op(Flatten("flatten", ["r2"], "flat"))
    w = rng.integers(WF.raw_min, WF.raw_max + 1, size=(10, n))
    b = rng.integers(BF.raw_min, BF.raw_max + 1, size=(10,))
    g.add_tensor("out", (10,), "fixed<10,6,RND,SAT>")
    g.add_op(
        Dense(
            "fc",
            ["flat"],
            "out",
            weight=w,
            bias=b,
            weight_fmt=WF,
            bias_fmt=BF,
            acc_fmt=_acc(g.tensor("flat").fmt, w, b),
        )
    )
    g.validate()
    return g


def measure(graph: Graph, io: str, script: str, vectors: int, out_dir: Path, synth: bool) -> dict:
    """Emit, synthesise and simulate one design; one result row."""
    from hwq.sim.rtlsim import run_rtl
    from hwq.sim.verify import random_inputs

    d = out_dir / io
    d.mkdir()
    t0 = time.perf_counter()
    emit(graph, d, io=io, pipeline=1, command="benchmarks/bench_rtl_cnn.py")
    emit_s = time.perf_counter() - t0
    manifest = json.loads((d / "rtl.json").read_text())
    row = {
        "design": io,
        "layers": " ".join(f"{lay['name']}:{lay['style'][0]}" for lay in manifest["layers"]),
        "adders": sum(lay["adders"] for lay in manifest["layers"]),
        "emit_s": round(emit_s, 1),
    }
    if synth:
        t0 = time.perf_counter()
        rep = synth_report(d, script=script)
        row.update({k: rep[k] for k in ("LUT", "FF", "CARRY", "DSP")}, synth_s=round(time.perf_counter() - t0, 1))
    x = random_inputs(graph, vectors, seed=1)
    got, extra = run_rtl(d, graph, x, "icarus", backpressure=0.0, gap=0.0)
    want = run(graph, x).outputs()[0]
    row["mismatches"] = int((np.asarray(got[0]).reshape(vectors, -1) != want.reshape(vectors, -1)).any(axis=1).sum())
    row["in_beats"] = manifest["in"]["beats"]
    row["cycles_per_frame"] = extra["cycles_per_vector"]
    row["frames_per_cycle"] = round(1.0 / extra["cycles_per_vector"], 5) if extra["cycles_per_vector"] else None
    row["latency_cycles"] = extra["latency_cycles"]
    return row


def print_table(rows: list[dict]) -> None:
    """Rows and the streamed/parallel ratio."""
    cols = ["design", "adders", "LUT", "FF", "CARRY", "DSP", "in_beats", "cycles_per_frame", "latency_cycles"]
    cols += ["mismatches", "synth_s"]
    cols = [c for c in cols if any(c in r for r in rows)]
    table = [[str(r.get(c, "")) for c in cols] for r in rows]
    by = {r["design"]: r for r in rows}
    if "stream" in by and "parallel" in by:
        ratio = ["stream/parallel"]
        for c in cols[1:]:
            a, b = by["stream"].get(c), by["parallel"].get(c)
            ok = isinstance(a, (int, float)) and isinstance(b, (int, float)) and b and c != "mismatches"
            ratio.append(f"{a / b:.3f}" if ok else "")
        table.append(ratio)
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for t in table:
        print("  ".join(v.rjust(w) for v, w in zip(t, widths)))
    for r in rows:
        print(f"{r['design']}: layers {r['layers']} (s = streamed, p = parallel)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=12, help="input height = width (default 12)")
    ap.add_argument("--channels", type=int, default=8, help="channels of both convs (default 8)")
    ap.add_argument("--vectors", type=int, default=20, help="frames simulated per design (default 20)")
    ap.add_argument("--script", default="synth_xilinx -flatten", help="yosys synthesis command")
    ap.add_argument("--no-synth", action="store_true", help="skip yosys")
    ap.add_argument("--designs", default="parallel,stream", help="io styles to measure (default parallel,stream)")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    g = cnn_graph(args.size, args.channels)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwq-bench-rtl-cnn-") as tmp:
        for io in [d.strip() for d in args.designs.split(",") if d.strip()]:
            rows.append(measure(g, io, args.script, args.vectors, Path(tmp), not args.no_synth))
            print(f"{io}: done ({rows[-1]})", file=sys.stderr, flush=True)
    print(
        f"CNN 1x{args.size}x{args.size}, {args.channels} channels; yosys '{args.script}'; Icarus, no gaps/back-pressure"
    )
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if all(r["mismatches"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
