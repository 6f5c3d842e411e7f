"""LUT price of small primitives on a target's yosys flow, measured alone (issue 11).

Some cost-model coefficients are fixed at a price measured on the primitive itself instead of fitted on
the 12 calibration designs (``[model] fixed`` in ``hwq/cost/targets/*.toml``), where the fit is
collinear or puts a physical cost at 0. This script writes the primitives as Verilog (registered inputs
and outputs, several copies with pseudo-random constants), synthesises each with the target's script and
prints LUTs per operand bit:

- ``cmp``: ``x > C`` of a signed register with a random constant, 8 copies per width 4 .. 20;
- ``sat``: the saturation limit pair ``r > 2**(W-1)-1`` and ``r < -2**(W-1)`` (W = 8) of a ``wr``-bit
  register, 6 copies per width 9 .. 22, priced per checked bit (``wr - W`` per check);
- ``cadd``: ``x + C`` (constant add), 4 copies per width 8 / 12 / 16;
- ``window_pad``: ``hwq_window_pad`` (``--window-file``, default this checkout's) as a 3x3 pad-1 window of
  32-bit pixels on a 5x5 frame;
- ``vadd``: ``x + y`` of two registers, 4 copies per width 8 / 12 / 16; ``vsub``: ``x - y`` of the same
  (the subtracted operand straight from a flip-flop: ``lut_sub_reg`` is the difference per bit);
- ``sel``: the saturation select ``hi ? MAX : lo ? MIN : r`` of registered checks and data, 4 copies of 8
  bits, priced per select bit as the model counts them (two per result bit: ``lut_mux``);
- ``cast0`` .. ``cast6``: the calibration designs' output stage as the emitter writes it, 8 copies, priced
  per output: a registered 11-bit accumulator shifted left by k (its binary point k bits above the result's)
  and saturated to ``fixed<8,3>``, ReLU, a register, then rounded to 6 bits (``ufixed<6,3,RND,SAT>``). The
  same logic with fewer live data bits as k grows; abc's LUT6 / MUXF7 / MUXF8 mapping makes its LUT count
  non-monotone in k (session 14: the within-group swap of fixed<3,1> and fixed<3,3> weights).

Usage: ``python benchmarks/lut_primitives.py [--target xc7] [--json OUT] [--window-file F]``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from hwq.cost.calibrate import count_cells
from hwq.cost.targets import load_target
from hwq.rtl.tools import parse_stat


def _module(name: str, ports: list[str], body: list[str]) -> str:
    return f"module {name}(input clk, {', '.join(ports)});\n" + "\n".join(body) + "\nendmodule\n"


WINDOW_TOP = """module window_pad(input clk, input rst, input [31:0] d, input v, output r, output [287:0] q,
    output qv, input qr, output [8:0] pad);
hwq_window_pad #(.PIXEL_WIDTH(32), .IN_H(5), .IN_W(5), .KH(3), .KW(3), .SH(1), .SW(1), .DH(1), .DW(1),
    .PAD_T(1), .PAD_B(1), .PAD_L(1), .PAD_R(1)) u (.clk(clk), .rst(rst), .s_axis_tdata(d), .s_axis_tvalid(v),
    .s_axis_tready(r), .m_axis_tdata(q), .m_axis_tpad(pad), .m_axis_tvalid(qv), .m_axis_tready(qr));
endmodule
"""


def primitives(window_file: Path | None = None) -> dict[str, tuple[str, int]]:
    """{name: (Verilog text, operand bits the price is per)}, deterministic (fixed seeds); with
    ``window_file`` also ``window_pad``: that ``hwq_window_pad.v`` as a 3x3 pad-1 window of 32-bit pixels
    on a 5x5 frame, priced per output data bit (288)."""
    out = {}
    if window_file is not None:
        out["window_pad"] = (Path(window_file).read_text() + WINDOW_TOP, 288)
    rnd = random.Random(3)
    for w in (4, 6, 8, 10, 12, 16, 20):
        body = []
        for k in range(8):
            c = rnd.randrange(1 << (w - 3), 1 << (w - 1))
            body.append(
                f"  reg signed [{w - 1}:0] r{k}; always @(posedge clk) begin r{k} <= a{k}; "
                f"y[{k}] <= r{k} > $signed({w}'d{c}); end"
            )
        ports = [f"input [{w - 1}:0] " + ", ".join(f"a{k}" for k in range(8)), "output reg [7:0] y"]
        out[f"cmp{w}"] = (_module(f"cmp{w}", ports, body), 8 * w)
    widths, lim = list(range(9, 23)), 8
    body, ins, i = [], [], 0
    for wr in widths:
        for k in range(6):
            ins.append(f"a{wr}_{k}")
            body.append(
                f"  reg signed [{wr - 1}:0] r{wr}_{k}; always @(posedge clk) begin r{wr}_{k} <= a{wr}_{k}[{wr - 1}:0]; "
                f"y[{i}] <= r{wr}_{k} > $signed({wr}'d{2 ** (lim - 1) - 1}); "
                f"y[{i + 1}] <= r{wr}_{k} < -$signed({wr}'d{2 ** (lim - 1)}); end"
            )
            i += 2
    ports = ["input [31:0] " + ", ".join(ins), f"output reg [{i - 1}:0] y"]
    out["sat"] = (_module("sat", ports, body), sum(2 * 6 * (wr - lim) for wr in widths))
    rnd = random.Random(1)
    for w in (8, 12, 16):
        body = []
        for k in range(4):
            c = rnd.randrange(1 << (w - 2), 1 << w) | 1
            body.append(
                f"  reg [{w - 1}:0] r{k}; always @(posedge clk) begin r{k} <= a{k}; y{k} <= r{k} + {w}'d{c}; end"
            )
        ports = [f"input [{w - 1}:0] a0, a1, a2, a3", f"output reg [{w}:0] y0, y1, y2, y3"]
        out[f"cadd{w}"] = (_module(f"cadd{w}", ports, body), 4 * w)
        body = [
            f"  reg [{w - 1}:0] r{k}, s{k};"
            f" always @(posedge clk) begin r{k} <= a{k}; s{k} <= b{k}; y{k} <= r{k} + s{k}; end"
            for k in range(4)
        ]
        ports = [f"input [{w - 1}:0] a0, a1, a2, a3, b0, b1, b2, b3", f"output reg [{w}:0] y0, y1, y2, y3"]
        out[f"vadd{w}"] = (_module(f"vadd{w}", ports, body), 4 * w)
        out[f"vsub{w}"] = (_module(f"vsub{w}", ports, [b.replace(" + ", " - ") for b in body]), 4 * w)
    body = [
        f"  reg [7:0] r{j}; reg h{j}, l{j}; always @(posedge clk) begin r{j} <= d{j}; h{j} <= a{j}[0]; "
        f"l{j} <= a{j}[1]; y{j} <= h{j} ? 8'h7f : l{j} ? 8'h80 : r{j}; end"
        for j in range(4)
    ]
    ports = ["input [7:0] d0, d1, d2, d3", "input [1:0] a0, a1, a2, a3", "output reg [7:0] y0, y1, y2, y3"]
    out["sel"] = (_module("sel", ports, body), 4 * 8 * 2)
    for k in range(7):
        body = []
        for j in range(8):
            r = f"$signed({{a{j}_r, {k}'b0}})" if k else f"$signed(a{j}_r)"
            body += [
                f"  reg signed [10:0] a{j}_r; reg signed [7:0] p{j}_r; always @(posedge clk) a{j}_r <= a{j};",
                f"  wire signed [{10 + k}:0] y{j}_r = {r};",
                f"  wire signed [7:0] y{j} = y{j}_r > $signed(127) ? $signed(8'h7f) : y{j}_r < $signed(-128) ? "
                f"$signed(8'h80) : $signed(y{j}_r[7:0]);",
                f"  always @(posedge clk) begin p{j}_r <= y{j}[7] ? $signed(8'h0) : y{j}; "
                f"q{j} <= $signed({{p{j}_r[7], p{j}_r[7:2]}}) + $signed({{6'b0, p{j}_r[1]}}); end",
            ]
        ports = ["input [10:0] " + ", ".join(f"a{j}" for j in range(8)),
                 "output reg [6:0] " + ", ".join(f"q{j}" for j in range(8))]  # fmt: skip
        out[f"cast{k}"] = (_module(f"cast{k}", ports, body), 8)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="xc7")
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--window-file",
        default=str(Path(__file__).resolve().parent.parent / "rtl" / "primitives" / "hwq_window_pad.v"),
        help="the hwq_window_pad.v to price as 'window_pad' (default: this checkout's)",
    )
    args = ap.parse_args(argv)
    tgt = load_target(args.target)
    script = tgt["synth"]["script"]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="hwq-prim-") as root:
        for name, (text, bits) in primitives(args.window_file).items():
            path = Path(root) / f"{name}.v"
            path.write_text(text)
            cmd = f"read_verilog {path}; {script} -top {name}; tee -o /dev/stdout stat"
            p = subprocess.run([shutil.which("yosys"), "-q", "-p", cmd], capture_output=True, text=True, check=True)
            luts = count_cells(parse_stat(p.stdout), tgt["synth"])["LUT"]
            rows[name] = {"LUT": luts, "bits": bits, "lut_per_bit": round(luts / bits, 3)}
            print(f"{name:8s} {luts:5d} LUT over {bits:5d} bits: {luts / bits:.3f} per bit", flush=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"target": args.target, "script": script, "primitives": rows}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
