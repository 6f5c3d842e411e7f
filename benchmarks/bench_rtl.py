"""Constant matrix-vector multipliers: hwq's multiplier-free datapath beside a naive ``*`` Verilog and da4ml.

For each matrix (fixed seed, 6-bit signed weights ``numpy.random.default_rng(0).integers(-32, 32, size=(n_in,
n_out))``, signed 8-bit inputs, exact outputs) the script

1. builds an IR Dense layer (x ``fixed<8,8>``, weights ``fixed<6,6>``, lossless WRAP accumulator, output =
   the accumulator: exact) and emits it with ``hwq.rtl.emit(..., pipeline=0)`` (adder graph, output register);
2. writes a naive Verilog module with the same ports that computes every output as a sum of ``x*w``
   products (also with an output register);
3. synthesises both with the same yosys command (default ``synth_xilinx -flatten``) in this one run, and
4. prints adders, LUT, CARRY4, FF and DSP counts with ratios. da4ml itself is not run by this script;
   its published figures (REFERENCE.md: da4ml 0.6.0, the same 16x64 matrix, yosys 0.23
   ``synth_xilinx -flatten``) are printed as the reference row.

Usage: ``python benchmarks/bench_rtl.py [--cases 16x64,64x32] [--script "synth_xilinx -flatten"] [--json F]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from hwq.rtl import emit, synth_report

from hwq.formats import FixedFormat
from hwq.ir import Dense, Graph

#: da4ml 0.6.0 on the 16x64 matrix (REFERENCE.md): adders via its tracing API, yosys 0.23 synth_xilinx -flatten
DA4ML_REFERENCE = {"16x64": {"adders": 1012, "LUT": 11175, "CARRY": 3091, "DSP": 0}}


def case_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The benchmark kernel, shape (n_in, n_out), as da4ml's examples lay it out."""
    return np.random.default_rng(0).integers(-32, 32, size=(n_in, n_out))


def cmvm_graph(kernel: np.ndarray, name: str) -> Graph:
    """y = x @ kernel with 8-bit signed integer x and exact integer outputs."""
    n_in, n_out = kernel.shape
    bound = int(np.abs(kernel).sum(axis=0).max()) * 128
    acc = FixedFormat(bound.bit_length() + 1, bound.bit_length() + 1)
    g = Graph(name, ["x"], ["y"])
    g.add_tensor("x", (n_in,), "fixed<8,8>")
    g.add_tensor("y", (n_out,), acc)
    g.add_op(
        Dense(
            "cmvm",
            ["x"],
            "y",
            weight=kernel.T.astype(np.int64),
            bias=np.zeros(n_out, np.int64),
            weight_fmt=FixedFormat(6, 6),
            bias_fmt=FixedFormat(6, 6),
            acc_fmt=acc,
        )
    )
    g.validate()
    return g


def naive_verilog(kernel: np.ndarray, module: str, out_width: int) -> str:
    """A module with the same stream ports whose outputs are sums of ``x*w`` products (registered)."""
    n_in, n_out = kernel.shape
    lines = [
        "`default_nettype none",
        f"module {module} (",
        "    input  wire clk,",
        f"    input  wire [{8 * n_in - 1}:0] s_axis_tdata,",
        f"    output reg  [{out_width * n_out - 1}:0] m_axis_tdata",
        ");",
    ]
    for i in range(n_in):
        lines.append(f"wire signed [7:0] x{i} = s_axis_tdata[{8 * i + 7}:{8 * i}];")
    for j in range(n_out):
        terms = " + ".join(
            f"x{i} * $signed({out_width}'sd{int(kernel[i, j])})"
            if kernel[i, j] >= 0
            else f"x{i} * -$signed({out_width}'sd{-int(kernel[i, j])})"
            for i in range(n_in)
        )
        lines.append(f"wire signed [{out_width - 1}:0] y{j} = {terms};")
    lines.append("always @(posedge clk) begin")
    for j in range(n_out):
        lines.append(f"    m_axis_tdata[{out_width * (j + 1) - 1}:{out_width * j}] <= y{j};")
    lines += ["end", "endmodule", ""]
    return "\n".join(lines)


def run(cases: list[str], script: str) -> list[dict]:
    """Emit, write and synthesise every case; one row per design."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwq-bench-rtl-") as tmp:
        tmp = Path(tmp)
        for case in cases:
            n_in, n_out = (int(v) for v in case.split("x"))
            kernel = case_matrix(n_in, n_out)
            g = cmvm_graph(kernel, f"cmvm_{case}")
            d = tmp / case
            d.mkdir()
            t0 = time.perf_counter()
            emit(g, d, pipeline=0, command="benchmarks/bench_rtl.py")
            emit_s = time.perf_counter() - t0
            manifest = json.loads((d / "rtl.json").read_text())
            layer = manifest["layers"][0]
            t0 = time.perf_counter()
            hwq = synth_report(files=[d / f"{layer['module']}.v"], top=layer["module"], script=script)
            hwq_s = time.perf_counter() - t0
            rows.append(
                dict(
                    case=case,
                    design="hwq (CSD + shared adder graph)",
                    adders=layer["adders"],
                    emit_s=round(emit_s, 1),
                    synth_s=round(hwq_s, 1),
                    **_figs(hwq),
                )
            )
            out_w = g.tensor("y").fmt.width
            nv = tmp / f"naive_{case}.v"
            nv.write_text(naive_verilog(kernel, f"naive_{case}", out_w))
            t0 = time.perf_counter()
            naive = synth_report(files=[nv], top=f"naive_{case}", script=script)
            rows.append(
                dict(
                    case=case,
                    design="naive x*w",
                    adders=None,
                    emit_s=None,
                    synth_s=round(time.perf_counter() - t0, 1),
                    **_figs(naive),
                )
            )
            if case in DA4ML_REFERENCE:  # da4ml is not run here (not installed); its published figures
                rows.append(
                    dict(
                        case=case,
                        design="da4ml 0.6.0 (REFERENCE.md)",
                        FF=None,
                        emit_s=None,
                        synth_s=None,
                        **DA4ML_REFERENCE[case],
                    )
                )
    return rows


def _figs(rep: dict) -> dict:
    return {k: rep[k] for k in ("LUT", "CARRY", "FF", "DSP")}


def _ratio(lut: int, ref: dict | None) -> str:
    return f"{lut / ref['LUT']:.2f}" if ref and ref.get("LUT") else "-"


def _num(v) -> str:
    return "-" if v is None else f"{v:,}"


def print_table(rows: list[dict], script: str) -> None:
    """The rows side by side, with LUT ratios against the naive design and da4ml."""
    print(f"yosys {script!r}; 8-bit signed inputs, 6-bit signed weights, exact outputs")
    cols = ["case", "design", "adders", "LUT", "CARRY4", "FF", "DSP", "LUT/naive", "LUT/da4ml"]
    head = f"{cols[0]:7} {cols[1]:30} " + " ".join(f"{c:>9}" for c in cols[2:])
    print(head)
    print("-" * len(head))
    for r in rows:
        naive = next((x for x in rows if x["case"] == r["case"] and x["design"].startswith("naive")), None)
        da = next((x for x in rows if x["case"] == r["case"] and x["design"].startswith("da4ml")), None)
        vals = [_num(r.get("adders")), _num(r["LUT"]), _num(r["CARRY"]), _num(r.get("FF")), _num(r["DSP"])]
        vals += [_ratio(r["LUT"], naive), _ratio(r["LUT"], da)]
        print(f"{r['case']:7} {r['design']:30} " + " ".join(f"{v:>9}" for v in vals))


def main(argv=None) -> int:
    """Command line entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="16x64,64x32", help="comma-separated n_in x n_out (default 16x64,64x32)")
    ap.add_argument("--script", default="synth_xilinx -flatten", help="yosys synthesis command")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    rows = run(args.cases.split(","), args.script)
    print_table(rows, args.script)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
